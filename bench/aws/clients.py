"""boto3 clients for one Region and endpoint, built once and shared by the backend's parts."""

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench.errors import AwsBackendError

if TYPE_CHECKING:
    import boto3

logger = logging.getLogger(__name__)

# botocore's "standard" retry mode retries throttling and transient errors with
# exponential backoff and jitter. Source: botocore user guide, "Retries".
RETRY_MODE = "standard"
RETRY_MAX_ATTEMPTS = 10


@dataclass
class AwsClients:
    """A boto3 session plus the clients made from it, created on first use.

    `overrides` replaces the client of a service, or of a purpose such as
    "provisioned-concurrency", with one given by the caller (for example a
    client wrapped in botocore's Stubber).
    """

    session: "boto3.Session"
    region: str
    endpoint_url: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _account_id: str | None = field(default=None, repr=False)

    def client(self, service: str) -> Any:
        """Return the client of `service`, creating it on first use."""
        if service in self.overrides:
            return self.overrides[service]
        if service not in self._clients:
            self._clients[service] = self._create(service)
        return self._clients[service]

    def _create(self, service: str) -> Any:
        from botocore.config import Config

        config = Config(retries={"mode": RETRY_MODE, "max_attempts": RETRY_MAX_ATTEMPTS})
        return self.session.client(service, region_name=self.region, endpoint_url=self.endpoint_url, config=config)

    @property
    def provisioned_concurrency(self) -> Any:
        """Return the Lambda client used for provisioned-concurrency configuration calls."""
        return self.overrides.get("provisioned-concurrency") or self.client("lambda")

    def account_id(self) -> str:
        """Return the id of the account the credentials belong to (STS GetCallerIdentity)."""
        if self._account_id is None:
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                self._account_id = self.client("sts").get_caller_identity()["Account"]
            except (BotoCoreError, ClientError) as error:
                raise AwsBackendError(
                    f"cannot identify the AWS account in {self.region}: {error}; "
                    "check your credentials (aws sts get-caller-identity) or --profile"
                ) from None
        return self._account_id


def connect(
    region: str | None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    session: "boto3.Session | None" = None,
) -> AwsClients:
    """Return clients for `region` from `session`, or from a new session for `profile`."""
    import boto3
    from botocore.exceptions import ProfileNotFound

    if session is None:
        try:
            session = boto3.Session(profile_name=profile)
        except ProfileNotFound:
            raise AwsBackendError(
                f"AWS profile {profile!r} not found in your AWS config files; run `aws configure list-profiles`"
            ) from None

    chosen = region or session.region_name
    if not chosen:
        raise AwsBackendError("no AWS Region given; pass --region or set AWS_REGION")
    logger.info("using AWS Region %s%s", chosen, f" at {endpoint_url}" if endpoint_url else "")
    return AwsClients(session=session, region=chosen, endpoint_url=endpoint_url)
