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
    # Where the stack deploys: the SES identity's ARN names both.
    account_id: pulumi.Input[str]
    region: pulumi.Input[str]


class Auth(pulumi.ComponentResource):
    """Email sign-in, verified addresses, a public (secretless) client for the site.

    Only an administrator creates accounts unless the stack sets ``selfSignUp``: an open
    pool lets anyone store recordings on the stack owner's bill.
    """

    user_pool: aws.cognito.UserPool
    client: aws.cognito.UserPoolClient

    def __init__(self, name: str, args: AuthArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("rrweb:index:Auth", name, None, opts)
        settings = args.settings
        # mypy refuses ** of a TypedDict that names none of the target's optional keys (here
        # passwordHistorySize), though leaving them out is what makes them optional.
        password_policy: aws.cognito.UserPoolPasswordPolicyArgsDict = {
            **PASSWORD_POLICY.pulumi(),  # type: ignore[typeddict-item]
            # As long as an invite: the invitee's account and the invite go stale together.
            "temporary_password_validity_days": 7,
        }
        # Cognito's built-in sender allows a few dozen emails a day for the whole account,
        # and refuses custom invitation text; an SES identity of the stack's own lifts both.
        sms = "Sign in with {username} and the temporary password {####}."
        invitation = aws.cognito.UserPoolAdminCreateUserConfigInviteMessageTemplateArgs(sms_message=sms)
        email = aws.cognito.UserPoolEmailConfigurationArgs(email_sending_account="COGNITO_DEFAULT")
        if settings.email_from is not None:
            invitation = aws.cognito.UserPoolAdminCreateUserConfigInviteMessageTemplateArgs(
                sms_message=sms,
                email_subject=f"Your {settings.prefix} recordings account",
                email_message=(
                    "You are invited to the recordings site. Sign in with {username} and the temporary "
                    "password {####}, then choose your own password. The temporary password expires in 7 days."
                ),
            )
            email = aws.cognito.UserPoolEmailConfigurationArgs(
                email_sending_account="DEVELOPER",
                from_email_address=settings.email_from,
                source_arn=pulumi.Output.concat(
                    "arn:aws:ses:", args.region, ":", args.account_id, ":identity/", settings.email_identity or ""
                ),
            )
        self.user_pool = aws.cognito.UserPool(
            f"{name}-users",
            name=f"{settings.prefix}-users",
            username_attributes=["email"],
            auto_verified_attributes=["email"],
            # A user changing their own email keeps the old one until the new one is
            # verified: the API trusts the email GetUser reports (invites are redeemed by
            # it, comments carry it), so an unverified address must never be reported.
            user_attribute_update_settings={"attributes_require_verification_before_updates": ["email"]},
            # The API names these rules when it refuses a password (chalicelib.settings).
            password_policy=password_policy,
            account_recovery_setting={"recovery_mechanisms": [{"name": "verified_email", "priority": 1}]},
            # SignUp answers NotAuthorized unless self sign-up is on (the API says 403
            # signup_disabled); AdminCreateUser emails the invitation below.
            admin_create_user_config=aws.cognito.UserPoolAdminCreateUserConfigArgs(
                allow_admin_create_user_only=not settings.self_sign_up, invite_message_template=invitation
            ),
            email_configuration=email,
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
