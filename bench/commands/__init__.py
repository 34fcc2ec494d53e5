"""One module per group of `bench` commands; each exports COMMANDS: name -> function."""
