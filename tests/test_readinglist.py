"""Tests for parse_reading_list: real Goodreads exports, each export quirk and each error case."""

import json
from pathlib import Path
from typing import Any

import pytest

from variants.handlers.readinglist import ReadingListError, parse_reading_list
from variants.handlers.readinglist_columns import GOODREADS_LAYOUTS

HEADER_24 = GOODREADS_LAYOUTS[24]
HEADERLESS_EXPORT = "01_beatrizopdd_headerless_excel.csv"


def parse_text(text: str) -> list[dict[str, Any]]:
    return parse_reading_list(text.encode("utf-8"))


def parse_error(data: str | bytes) -> ReadingListError:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with pytest.raises(ReadingListError) as caught:
        parse_reading_list(raw)
    return caught.value


def goodreads_row(**values: str) -> str:
    """Return one 24-column export row; keyword names are header names with spaces as underscores."""
    header = HEADER_24.split(",")
    cells = [values.get(name.replace(" ", "_").replace("-", "_"), "") for name in header]
    return ",".join(cells)


def export_manifest(goodreads: Path) -> list[dict[str, Any]]:
    return json.loads((goodreads / "manifest.json").read_text(encoding="utf-8"))


def load_export(shared_data: Path, prefix: str) -> list[dict[str, Any]]:
    path = next((shared_data / "goodreads").glob(f"{prefix}_*.csv"))
    return parse_reading_list(path.read_bytes())


# Real exports


def test_real_exports_record_counts(shared_data: Path) -> None:
    goodreads = shared_data / "goodreads"
    manifest = export_manifest(goodreads)
    assert len(manifest) == 12

    for entry in manifest:
        path = shared_data / entry["file"]
        if path.name == HEADERLESS_EXPORT:
            continue
        items = parse_reading_list(path.read_bytes())
        assert len(items) == entry["records"], path.name
        assert [item["id"] for item in items] == list(range(1, entry["records"] + 1)), path.name
        assert all(item["title"] for item in items), path.name


def test_real_headerless_export_error(shared_data: Path) -> None:
    data = (shared_data / "goodreads" / HEADERLESS_EXPORT).read_bytes()

    error = parse_error(data)

    assert error.line == 1
    assert error.field is None
    assert error.reason.startswith("the header row is missing: the first line holds a book, not column names")
    assert "it has 24 fields like a Goodreads export" in error.reason
    assert error.reason.endswith(f"add this header line at the top: {HEADER_24}")


def test_real_export_isbn_and_cyrillic(shared_data: Path) -> None:
    items = load_export(shared_data, "02")

    assert items[0]["title"] == "Аэропорт"
    assert items[0]["isbn"] == "5170245661"
    assert items[0]["isbn13"] == "9785170245666"
    assert items[0]["additional_authors"] == "Артур Хейли"
    assert items[1]["author"] == "Сергей Лукьяненко"
    assert items[1]["author_lf"] == "Лукьяненко, Сергей"
    assert "average_rating" not in items[1]


def test_real_export_empty_page_count_absent(shared_data: Path) -> None:
    items = load_export(shared_data, "02")

    without_pages = [item["id"] for item in items if "pages" not in item]

    assert without_pages == [4, 42, 43, 71]
    assert items[3]["title"] == "Седьмой"


def test_real_export_negative_original_year(shared_data: Path) -> None:
    items = load_export(shared_data, "11")

    assert items[331]["title"] == "The Dhammapada"
    assert items[331]["original_year"] == -400
    assert sum(1 for item in items if item.get("original_year", 0) < 0) == 36


def test_real_export_column_aligned(shared_data: Path) -> None:
    items = load_export(shared_data, "03")

    assert items[0]["title"] == "Raintree County"
    assert items[0]["author"] == "Ross Lockridge Jr."
    assert items[0]["author_lf"] == "Jr., Ross Lockridge"
    assert items[0]["isbn"] == "014023666X"
    assert items[0]["pages"] == 1088
    assert items[111]["title"] == "The God of Small Things"


def test_real_export_spreadsheet_resave(shared_data: Path) -> None:
    items = load_export(shared_data, "06")

    assert items[3]["title"] == "Know My Name"
    assert items[3]["isbn"] == "0735223718"
    assert items[4]["isbn"] == "0062645226"
    assert "isbn13" not in items[3]
    assert items[1]["date_added"] == "2021-11-14"
    assert sum(1 for item in items if "isbn13" in item) == 0


def test_real_export_titles_keep_marks(shared_data: Path) -> None:
    georgian = load_export(shared_data, "05")
    arabic = load_export(shared_data, "07")

    assert georgian[222]["title"] == "A \u200bCourt of Silver Flames (A Court of Thorns and Roses, #4)"
    assert arabic[94]["title"] == "\u202bرجال ريا وسكينة \u202c"


def test_real_export_bom_and_mojibake(shared_data: Path) -> None:
    items = load_export(shared_data, "08")

    assert items[0]["title"] == "Dating Dr. Dil (If Shakespeare Was an Auntie, #1)"
    assert items[0]["isbn"] == "0063001101"
    assert items[53]["title"] == "CafÃ© Con Lychee"


# Quirks


def test_full_row_compact_item() -> None:
    row = goodreads_row(
        Book_Id="234225",
        Title='"Dune (Dune, #1)"',
        Author="Frank Herbert",
        Author_l_f='"Herbert, Frank"',
        ISBN='"=""0441172717"""',
        ISBN13='"=""9780441172719"""',
        My_Rating="5",
        Average_Rating="4.27",
        Publisher="Ace",
        Binding="Paperback",
        Number_of_Pages="896",
        Year_Published="1990",
        Original_Publication_Year="1965",
        Date_Read="2024/01/02",
        Date_Added="2023/12/01",
        Bookshelves='"sci-fi, favourites"',
        Bookshelves_with_positions='"sci-fi (#1), favourites (#2)"',
        Exclusive_Shelf="read",
        Read_Count="2",
        Owned_Copies="0",
    )

    items = parse_text(f"{HEADER_24}\n{row}\n")

    assert items == [
        {
            "id": 1,
            "title": "Dune (Dune, #1)",
            "author": "Frank Herbert",
            "author_lf": "Herbert, Frank",
            "isbn": "0441172717",
            "isbn13": "9780441172719",
            "my_rating": 5,
            "average_rating": 4.27,
            "publisher": "Ace",
            "binding": "Paperback",
            "pages": 896,
            "year": 1990,
            "original_year": 1965,
            "date_read": "2024/01/02",
            "date_added": "2023/12/01",
            "shelves": ["sci-fi", "favourites"],
            "exclusive_shelf": "read",
            "read_count": 2,
        }
    ]


def test_empty_fields_omitted() -> None:
    row = goodreads_row(Title="Untitled", ISBN='"="""""', ISBN13='"="""""', My_Rating="0", Number_of_Pages="")

    items = parse_text(f"{HEADER_24}\n{row}\n")

    assert items == [{"id": 1, "title": "Untitled"}]


def test_bare_isbns_kept() -> None:
    items = parse_text("Title,ISBN,ISBN13\nDune,0441172717,9780441172719\n")

    assert items[0]["isbn"] == "0441172717"
    assert items[0]["isbn13"] == "9780441172719"


def test_isbn10_lost_zeros_padded() -> None:
    text = "Title,ISBN\nDune,441172717\nMagpie,62645226\nKept,123456788\nShort,123\n"

    items = parse_text(text)

    assert items[0]["isbn"] == "0441172717"
    assert items[1]["isbn"] == "0062645226"
    assert items[2]["isbn"] == "123456788"
    assert items[3]["isbn"] == "123"


def test_isbn13_scientific_notation() -> None:
    text = "Title,ISBN13\nRounded,9.78E+12\nFull,9.780441172719E+12\nLower,9.780441172719e+12\n"

    items = parse_text(text)

    assert "isbn13" not in items[0]
    assert items[1]["isbn13"] == "9780441172719"
    assert items[2]["isbn13"] == "9780441172719"


def test_isbn_hyphens_removed() -> None:
    items = parse_text("Title,ISBN,ISBN13\nDune,0-441-17271-7,978-0-441-17271-9\n")

    assert items[0]["isbn"] == "0441172717"
    assert items[0]["isbn13"] == "9780441172719"


def test_quoted_field_spanning_lines() -> None:
    text = 'Title,Author\n"Two\nLines",A\nNext,"B"\n'

    items = parse_text(text)

    assert items[0]["title"] == "Two\nLines"
    assert items[1]["title"] == "Next"
    assert items[1]["author"] == "B"


def test_line_number_after_multiline_record() -> None:
    text = 'Title,Number of Pages\n"Two\nLines",10\nNext,abc\n'

    error = parse_error(text)

    assert error.line == 4
    assert error.field == "Number of Pages"


def test_utf8_bom_removed_from_header() -> None:
    data = "\ufeffTitle,Author\nDune,Frank Herbert\n".encode("utf-8")

    items = parse_reading_list(data)

    assert items == [{"id": 1, "title": "Dune", "author": "Frank Herbert"}]


def test_crlf_line_endings() -> None:
    lf = parse_text('Title,Author,Number of Pages\n"A\nB",X,12\nC,Y,\n')
    crlf = parse_text('Title,Author,Number of Pages\r\n"A\r\nB",X,12\r\nC,Y,\r\n')

    assert crlf[0]["title"] == "A\r\nB"
    assert crlf[1] == lf[1]
    assert crlf[0]["pages"] == 12
    assert crlf[1] == {"id": 2, "title": "C", "author": "Y"}


def test_cp1252_fallback() -> None:
    data = "Title,Author\nCafé,René Müller\n".encode("cp1252")

    items = parse_reading_list(data)

    assert items[0]["title"] == "Café"
    assert items[0]["author"] == "René Müller"


def test_column_aligned_fields() -> None:
    text = (
        "Book Id , Title                 , Author l-f          , Number of Pages , Bookshelves\n"
        '   257233, Raintree County       , "Jr., Ross Lockridge",            1088 , "a, b"  \n'
        "        7, Short                 ,                     ,                 ,\n"
    )

    items = parse_text(text)

    assert items[0] == {
        "id": 1,
        "title": "Raintree County",
        "author_lf": "Jr., Ross Lockridge",
        "pages": 1088,
        "shelves": ["a", "b"],
    }
    assert items[1] == {"id": 2, "title": "Short"}


def test_non_ascii_text_kept() -> None:
    items = parse_text("Title,Author,Publisher\nチェンソーマン 9,藤本 タツキ,集英社\n")

    assert items[0]["title"] == "チェンソーマン 9"
    assert items[0]["author"] == "藤本 タツキ"
    assert items[0]["publisher"] == "集英社"


def test_invisible_marks_stripped_except_title() -> None:
    text = (
        "\u200bTitle,Author,ISBN,Number of Pages,Exclusive Shelf\n"
        '\u202bكتاب\u202c,\u200fنجيب محفوظ,"=""\u200e0441172717""",\u200f320,read\u200e\n'
    )

    items = parse_text(text)

    assert items[0]["title"] == "\u202bكتاب\u202c"
    assert items[0]["author"] == "نجيب محفوظ"
    assert items[0]["isbn"] == "0441172717"
    assert items[0]["pages"] == 320
    assert items[0]["exclusive_shelf"] == "read"


def test_header_names_case_and_spacing() -> None:
    items = parse_text("  TITLE ,number  of   pages,\u00a0author\u00a0\nDune,896,Frank Herbert\n")

    assert items == [{"id": 1, "title": "Dune", "pages": 896, "author": "Frank Herbert"}]


def test_numbers_spreadsheet_and_native_digits() -> None:
    items = parse_text("Title,Number of Pages,Year Published,Original Publication Year\nA,320.0,٢٠٠٧,-400\n")

    assert items[0]["pages"] == 320
    assert items[0]["year"] == 2007
    assert items[0]["original_year"] == -400


@pytest.mark.parametrize("columns", [19, 23, 24, 31])
def test_goodreads_layouts(columns: int) -> None:
    header = GOODREADS_LAYOUTS[columns]
    names = header.split(",")
    row = ["" for _ in names]
    row[names.index("Title")] = "Dune"
    row[names.index("Number of Pages")] = "896"
    row[names.index("Exclusive Shelf")] = "read"

    items = parse_text(f"{header}\n{','.join(row)}\n")

    assert len(names) == columns
    assert items == [{"id": 1, "title": "Dune", "pages": 896, "exclusive_shelf": "read"}]


def test_generic_csv_title_only() -> None:
    items = parse_text("Title\nDune\nEmma\n")

    assert items == [{"id": 1, "title": "Dune"}, {"id": 2, "title": "Emma"}]


def test_generic_csv_unknown_columns_ignored() -> None:
    items = parse_text("Genre,Title,Notes\nsf,Dune,great\n")

    assert items == [{"id": 1, "title": "Dune"}]


def test_blank_rows_skipped() -> None:
    items = parse_text("\n\nTitle,Author\n\nDune,F\n,\n  ,  \nEmma,J\n\n")

    assert [item["title"] for item in items] == ["Dune", "Emma"]
    assert [item["id"] for item in items] == [1, 2]


def test_short_and_padded_rows() -> None:
    items = parse_text("Title,Author,Number of Pages\nShort\nLong,A,12,,\n")

    assert items == [{"id": 1, "title": "Short"}, {"id": 2, "title": "Long", "author": "A", "pages": 12}]


# Errors


def test_error_message_format() -> None:
    good_rows = "".join(f"Book {number},{number}\n" for number in range(10))
    error = parse_error(f"Title,Number of Pages\n{good_rows}Bad,abc\n")

    assert str(error) == "line 12: 'Number of Pages' is 'abc', expected a whole number; correct it or leave it blank"


def test_error_bad_whole_number() -> None:
    error = parse_error("Title,Number of Pages\nDune,896\nEmma,abc\n")

    assert error.line == 3
    assert error.field == "Number of Pages"
    assert error.reason == "'Number of Pages' is 'abc', expected a whole number; correct it or leave it blank"


def test_error_fractional_whole_number() -> None:
    error = parse_error("Title,My Rating\nDune,4.5\n")

    assert error.line == 2
    assert error.field == "My Rating"


def test_error_bad_decimal_number() -> None:
    error = parse_error("Title,Average Rating\nDune,four\n")

    assert error.line == 2
    assert error.field == "Average Rating"
    assert error.reason == "'Average Rating' is 'four', expected a number such as 4.25; correct it or leave it blank"


def test_error_field_name_as_written() -> None:
    error = parse_error("title,  NUMBER OF PAGES \nDune,x\n")

    assert error.field == "NUMBER OF PAGES"
    assert error.reason.startswith("'NUMBER OF PAGES' is 'x'")


def test_error_nul_bytes() -> None:
    error = parse_error(b"Title\nDu\x00ne\n")

    assert error.line is None
    assert error.reason == "the file contains binary data (NUL bytes), not CSV text; export the list as CSV"


def test_error_utf16() -> None:
    error = parse_error("Title\nDune\n".encode("utf-16"))

    assert error.reason == "the file is UTF-16 text; save it as CSV UTF-8 (comma-separated) and try again"


def test_error_undecodable() -> None:
    error = parse_error(b"Title\n\x81\x8d\x8f\x90\x9d\n")

    assert error.reason == "the file is neither UTF-8 nor cp1252 text; export the list as CSV UTF-8"


def test_error_control_characters() -> None:
    error = parse_error(bytes(range(1, 9)) * 20)

    assert error.reason == "the file contains binary data (control characters), not CSV text; export the list as CSV"


def test_error_empty() -> None:
    for data in (b"", b"\xef\xbb\xbf", b"  \n\r\n"):
        error = parse_error(data)
        assert error.reason == "the file is empty; expected a header row and one row per book"


def test_error_header_only() -> None:
    error = parse_error(f"{HEADER_24}\n\n")

    assert error.line is None
    assert error.reason == "the file has a header row but no books; add at least one row below the header"


def test_error_no_title_column() -> None:
    error = parse_error("Author,ISBN\nFrank Herbert,0441172717\n")

    assert error.line == 1
    assert error.reason == "no 'Title' column; the header row has 'Author', 'ISBN'; name the book-title column 'Title'"


def test_error_generic_missing_header() -> None:
    error = parse_error("Dune,Frank Herbert,896\n")

    assert error.line == 1
    assert error.reason.startswith("the header row is missing: the first line has none of the expected column names")


def test_error_not_comma_separated() -> None:
    error = parse_error("Title\tAuthor\nDune\tFrank Herbert\n")

    assert error.line == 1
    assert error.reason == "the first line has no commas, so this is not a comma-separated file; export the list as CSV"


def test_error_duplicate_title_column() -> None:
    error = parse_error("Title,Author,title\nA,B,C\n")

    assert error.line == 1
    assert error.reason == "the column 'title' appears twice in the header row; remove or rename one"


def test_error_empty_title() -> None:
    error = parse_error("Title,Author\nDune,F\n\u200b ,Anonymous\n")

    assert error.line == 3
    assert error.field == "Title"
    assert error.reason == "'Title' is empty; every book needs a title"


def test_error_more_fields_than_header() -> None:
    text = "Title,Author,Number of Pages\nDune,F,1\nBlue Lily, Lily Blue,Maggie Stiefvater,391\n"

    error = parse_error(text)

    assert error.line == 3
    assert error.field == "Number of Pages"
    assert error.reason == (
        "the record has 4 fields but the header has 3: '391' come after the last column 'Number of Pages'; "
        "a field that contains a comma is probably missing its quotes"
    )


def test_error_unclosed_quote() -> None:
    text = 'Title,Author,Number of Pages\nDune,F,1\n"Emma,J,2\nLast,K,3\n'

    error = parse_error(text)

    assert error.line == 3
    assert error.field == "Title"
    assert error.reason.startswith("the quoted field 'Title' opens in the record that starts here and is never closed")


def test_error_unclosed_quote_later_field() -> None:
    error = parse_error('Title,Author\nDune,"Frank\nHerbert\n')

    assert error.line == 2
    assert error.field == "Author"


def test_error_csv_field_limit() -> None:
    text = 'Title,Author\nDune,F\nEmma,"' + "x" * 140_000 + "\n"

    error = parse_error(text)

    assert error.line == 3
    assert error.reason.startswith("cannot parse the record that starts here (field larger than field limit")
