"""``make preflight STACK=<stack>``: what a first ``pulumi up`` of the stack needs, checked beforehand.

With the AWS credentials ``pulumi up`` will use, it makes read-only calls and reads the
stack's settings (``Pulumi.<stack>.yaml`` over the defaults, as the program reads them),
and prints one line per check: ``ok``, ``FAIL`` (the deploy would fail or misbehave:
what to do follows), ``warn`` (it would deploy, but read this first), ``unread`` (the
check could not read what it needs: the AWS error, and how to check by hand) or ``by
hand`` (what no API can tell). It exits 1 when a check fails, 0 otherwise. It creates,
changes and deletes nothing.

The checks: the credentials; the region (the stack's ``aws:region``, or the
credentials' own) offers every service the stack uses; API Gateway's CloudWatch Logs
role, when the stack's stage writes access logs; the account's Lambda concurrency
against what the stack's settings need; the user pool's email sender (the SES identity
and SES's sandbox, or Cognito's daily cap); the Python that packages the functions for
``lambdaRuntime``; the site's built assets; and, by hand, CloudFront's verification of
the account. docs/deploy.md explains each.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "api")]  # the program's settings read the app's constants

from infra import packaging  # noqa: E402
from infra.settings import StackFile, StackSettings  # noqa: E402
from infra.site import missing_assets  # noqa: E402

# Every regional service the stack creates resources in (CloudFront and IAM are global).
SERVICES = (
    "apigateway",
    "cloudwatch",
    "cognito-idp",
    "dynamodb",
    "events",
    "firehose",
    "kinesis",
    "kms",
    "lambda",
    "logs",
    "s3",
    "sns",
    "sqs",
)
# The concurrency AWS grants an account by default, and what a new account often starts with.
FULL_CONCURRENCY = 1000

OK, FAIL, WARN, UNREAD, BY_HAND = "ok", "FAIL", "warn", "unread", "by hand"

Clients = Callable[[str], Any]


@dataclass(frozen=True)
class Finding:
    """One check's outcome: its status, what was found, and what to do about it."""

    check: str
    status: str
    found: str
    todo: str = ""

    def line(self) -> str:
        """The finding as printed: status, check, what was found, then what to do."""
        text = f"[{self.status:>7}] {self.check}: {self.found}"
        return text + (f"\n          -> {self.todo}" if self.todo else "")


def needed_concurrency(settings: StackSettings) -> int:
    """The fewest concurrent executions the stack runs on: each consumer batch, compactor, reaper, one API call."""
    return settings.kinesis_shards * settings.consumer_parallelization + 3


def check_credentials(clients: Clients) -> Finding:
    """Who the credentials are (STS answers any valid credentials)."""
    try:
        identity = clients("sts").get_caller_identity()
    except (ClientError, BotoCoreError) as exc:
        return Finding(
            "credentials",
            FAIL,
            f"STS could not say who the credentials are ({exc})",
            "set credentials for the target account (aws configure, AWS_PROFILE, or the role's environment) "
            "and check `aws sts get-caller-identity`",
        )
    return Finding("credentials", OK, f"account {identity['Account']} as {identity['Arn']}")


def check_region(region: str | None, available: Callable[[str], list[str]]) -> Finding:
    """The region is set, and botocore's list of each service's regions has it (an opt-in region must be enabled)."""
    if not region:
        return Finding(
            "region",
            FAIL,
            "no region: the stack file has no aws:region and the credentials name none",
            "pulumi config set aws:region <region> --stack <stack>",
        )
    missing = [service for service in SERVICES if region not in available(service)]
    if missing:
        return Finding(
            "region", FAIL, f"{region} does not offer {', '.join(missing)}", "choose a region that offers them all"
        )
    return Finding("region", OK, f"{region} offers every service the stack uses")


def check_api_gateway_role(settings: StackSettings, clients: Clients) -> Finding:
    """A stage that writes access logs needs the account's CloudWatch Logs role set (docs/deploy.md)."""
    name = "API Gateway logging role"
    if settings.manage_api_gateway_account:
        return Finding(name, OK, "this stack creates the role and sets it for the account and region")
    if not settings.access_logs:
        return Finding(name, OK, "the stage writes no access logs, so it needs no role")
    try:
        role_arn = clients("apigateway").get_account().get("cloudwatchRoleArn")
    except (ClientError, BotoCoreError) as exc:
        return _unread(name, "API Gateway's account settings", exc, "aws apigateway get-account")
    if not role_arn:
        return Finding(
            name,
            FAIL,
            "apiAccessLogs is true but the account has no CloudWatch Logs role in this region: the stage would fail "
            '("CloudWatch Logs role ARN must be set in account settings to enable logging")',
            "deploy a stack with manageApiGatewayAccount: true (dev) in this account and region first, "
            "or set apiAccessLogs to false",
        )
    try:
        clients("iam").get_role(RoleName=role_arn.rsplit("/", 1)[-1])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchEntity":
            return Finding(
                name,
                FAIL,
                f"the account's setting names {role_arn}, which no longer exists",
                "redeploy the stack that manages it (manageApiGatewayAccount: true), or set apiAccessLogs to false",
            )
        return _unread(name, f"the role {role_arn}", exc, f"aws iam get-role --role-name {role_arn.rsplit('/', 1)[-1]}")
    except BotoCoreError as exc:
        return _unread(name, f"the role {role_arn}", exc, "aws iam get-role")
    return Finding(name, OK, f"set: {role_arn}")


def check_concurrency(settings: StackSettings, clients: Clients) -> Finding:
    """The account's unreserved Lambda concurrency against what the stack's settings need."""
    name = "Lambda concurrency"
    try:
        account = clients("lambda").get_account_settings()
    except (ClientError, BotoCoreError) as exc:
        return _unread(name, "Lambda's account settings", exc, "aws lambda get-account-settings")
    limit = int(account["AccountLimit"]["ConcurrentExecutions"])
    unreserved = int(account["AccountLimit"]["UnreservedConcurrentExecutions"])
    needed = needed_concurrency(settings)
    ask = (
        f'Service Quotas, AWS Lambda, "Concurrent executions": request {FULL_CONCURRENCY} '
        "(a new account starts low and AWS raises it with use)"
    )
    if settings.ingest_concurrency and limit - settings.ingest_concurrency < 100:
        return Finding(
            name,
            FAIL,
            f"{limit} in all; ingestConcurrency reserves {settings.ingest_concurrency} for the ingest door and Lambda "
            "keeps 100 unreserved",
            ask + ", or set ingestConcurrency lower (0 reserves none)",
        )
    if unreserved < needed:
        return Finding(
            name,
            FAIL,
            f"{unreserved} unreserved of {limit}; the stack runs on at least {needed} "
            f"({settings.kinesis_shards} shard(s) x consumerParallelization {settings.consumer_parallelization}, "
            "the compactor, the reaper, one API call)",
            ask,
        )
    if limit < FULL_CONCURRENCY:
        return Finding(
            name,
            WARN,
            f"{limit} ({unreserved} unreserved): enough to deploy (the stack needs {needed}), but a burst of visitors "
            "gets 429s and the reaper's invocations wait",
            ask + " before sending real traffic",
        )
    return Finding(name, OK, f"{limit} ({unreserved} unreserved); the stack needs at least {needed}")


def check_email(settings: StackSettings, clients: Clients) -> Finding:
    """The pool's sender: the SES identity verified and out of SES's sandbox, or Cognito's capped sender."""
    name = "user pool email"
    identity = settings.email_identity
    if identity is None:
        found = "Cognito's built-in sender: a few dozen emails a day for the whole account (invitations, resets)"
        if settings.protect_data:
            return Finding(name, WARN, found, "set emailFrom to an address of an SES identity (docs/deploy.md, Email)")
        return Finding(name, OK, found)
    ses = clients("sesv2")
    try:
        verified = ses.get_email_identity(EmailIdentity=identity).get("VerifiedForSendingStatus")
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NotFoundException":
            return Finding(
                name,
                FAIL,
                f"{identity} is not an SES identity in this region: the pool could not send",
                f"verify {identity} in Amazon SES in the stack's region (aws sesv2 create-email-identity "
                f"--email-identity {identity}), or set sesIdentity",
            )
        return _unread(
            name, f"the SES identity {identity}", exc, f"aws sesv2 get-email-identity --email-identity {identity}"
        )
    except BotoCoreError as exc:
        return _unread(name, f"the SES identity {identity}", exc, "aws sesv2 get-email-identity")
    if not verified:
        return Finding(
            name,
            FAIL,
            f"{identity} is not yet verified for sending",
            "finish the verification (DNS records for a domain, the emailed link for an address)",
        )
    try:
        account = ses.get_account()
    except (ClientError, BotoCoreError) as exc:
        return _unread(name, "SES's account status", exc, "aws sesv2 get-account")
    if not account.get("SendingEnabled", True):
        return Finding(name, FAIL, "SES sending is paused for the account", "see the SES console's account dashboard")
    if not account.get("ProductionAccessEnabled"):
        return Finding(
            name,
            WARN,
            f"{identity} is verified, but SES is in its sandbox: it delivers only to verified addresses",
            "request production access in the SES console (Account dashboard)",
        )
    return Finding(name, OK, f"{settings.email_from} through SES identity {identity}")


def check_runtime(settings: StackSettings) -> Finding:
    """The Python that packages the functions for lambdaRuntime is on this machine."""
    name = "packaging Python"
    version = settings.lambda_runtime.removeprefix("python")
    try:
        python = packaging.find_python(version)
    except packaging.PackagingError as exc:
        return Finding(name, FAIL, f"no Python {version} found", str(exc))
    return Finding(name, OK, f"{settings.lambda_runtime} on {settings.lambda_architecture}, packaged by {python}")


def check_site(settings: StackSettings, content_dir: Path) -> Finding:
    """The site's pages load scripts that ``make site`` builds and git does not keep."""
    if not settings.site:
        return Finding("site assets", OK, "the stack has no site (site: false)")
    missing = missing_assets(content_dir)
    if missing:
        return Finding("site assets", FAIL, f"not built: {', '.join(missing[:3])}", "make site")
    return Finding("site assets", OK, "built")


def by_hand(settings: StackSettings) -> Iterator[Finding]:
    """What no API tells before the deploy."""
    if settings.site:
        yield Finding(
            "CloudFront",
            BY_HAND,
            "whether AWS has verified the account for CloudFront cannot be read beforehand",
            'if pulumi up fails with "Your account must be verified before you can add new CloudFront resources", '
            "open an AWS Support case and meanwhile set site to false (docs/deploy.md)",
        )


def _unread(check: str, what: str, exc: Exception, command: str) -> Finding:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        reason = f"{error.get('Code', '')}: {(str(error.get('Message', '')).strip().splitlines() or [''])[0][:160]}"
    else:
        reason = f"{type(exc).__name__}: {exc}"
    return Finding(check, UNREAD, f"could not read {what} ({reason})", f"check by hand: {command}")


def preflight(
    settings: StackSettings,
    region: str | None,
    clients: Clients,
    *,
    available: Callable[[str], list[str]],
    content_dir: Path = ROOT / "site" / "public",
) -> list[Finding]:
    """Every check, in the order a first deploy meets them."""
    credentials = check_credentials(clients)
    findings = [credentials, check_region(region, available)]
    if credentials.status == OK:
        findings += [
            check_api_gateway_role(settings, clients),
            check_concurrency(settings, clients),
            check_email(settings, clients),
        ]
    findings += [check_runtime(settings), check_site(settings, content_dir), *by_hand(settings)]
    return findings


def main(argv: list[str] | None = None) -> int:
    """Run the checks for ``--stack`` and print them; 1 when any failed."""
    parser = argparse.ArgumentParser(prog="make preflight", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True, help="the stack to check: dev, prod, pr-<n>")
    args = parser.parse_args(argv)
    stack_file = StackFile.read(ROOT, args.stack)
    try:
        settings = StackSettings.from_config(stack_file, args.stack)  # type: ignore[arg-type]  # the getters it calls
    except ValueError as exc:
        print(f"[   FAIL] settings: Pulumi.{args.stack}.yaml: {exc}")
        return 1
    session = boto3.session.Session(region_name=stack_file.region)
    findings = preflight(
        settings,
        session.region_name,
        lambda service: session.client(service),
        available=session.get_available_regions,
        content_dir=ROOT / "site" / "public",
    )
    print(f"Preflight of stack {args.stack} ({settings.prefix}):")
    for finding in findings:
        print(finding.line())
    failed = [finding for finding in findings if finding.status == FAIL]
    print(f"{len(failed)} failed" if failed else "Nothing blocks a first pulumi up.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
