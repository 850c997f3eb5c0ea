"""Auth: the Cognito user pool and app client people sign in with."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from chalicelib.settings import PASSWORD_POLICY
from infra.settings import StackSettings


@dataclass
class AuthArgs:
    """Inputs of the Auth component."""

    settings: StackSettings


class Auth(pulumi.ComponentResource):
    """Email sign-in, verified addresses, a public (secretless) client for the site."""

    user_pool: aws.cognito.UserPool
    client: aws.cognito.UserPoolClient

    def __init__(self, name: str, args: AuthArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("rrweb:index:Auth", name, None, opts)
        settings = args.settings
        self.user_pool = aws.cognito.UserPool(
            f"{name}-users",
            name=f"{settings.prefix}-users",
            username_attributes=["email"],
            auto_verified_attributes=["email"],
            # The API names these rules when it refuses a password (chalicelib.settings).
            password_policy={**PASSWORD_POLICY.pulumi(), "temporary_password_validity_days": 3},
            account_recovery_setting={"recovery_mechanisms": [{"name": "verified_email", "priority": 1}]},
            deletion_protection="ACTIVE" if settings.protect_data else "INACTIVE",
            opts=settings.data_options(self),
        )
        self.client = aws.cognito.UserPoolClient(
            f"{name}-site-client",
            name=f"{settings.prefix}-site",
            user_pool_id=self.user_pool.id,
            # A browser cannot keep a secret: SRP sign-in plus refresh tokens.
            generate_secret=False,
            explicit_auth_flows=["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            prevent_user_existence_errors="ENABLED",
            enable_token_revocation=True,
            access_token_validity=60,
            id_token_validity=60,
            refresh_token_validity=30,
            token_validity_units={"access_token": "minutes", "id_token": "minutes", "refresh_token": "days"},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"user_pool_id": self.user_pool.id, "client_id": self.client.id})
