"""Signing-key rotation: the four steps Secrets Manager calls a rotation function with.

Follows AWS's rotation function template (SecretsManagerRotationTemplate):
createSecret stages a new random key as AWSPENDING, setSecret has nothing to do
(no downstream system holds the key), testSecret checks the pending key can sign
and verify a token, finishSecret moves AWSCURRENT to it once it is a key, and Secrets
Manager then labels the old key AWSPREVIOUS. KeyRing validates with AWSCURRENT, then with
AWSPREVIOUS only while a token minted before the rotation can still be alive
(session_rules.keys), so every unexpired token survives a rotation and the retired key then
checks nothing.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from session_rules import limits, tokens
from session_rules.keys import CURRENT

from .errors import RotationError
from .telemetry import logger

if TYPE_CHECKING:  # stubs for mypy only: the layer does not ship them
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from .config import Clock

PENDING = "AWSPENDING"
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")


class Rotation:
    """One rotation of one secret, identified by Secrets Manager's ClientRequestToken."""

    def __init__(self, client: SecretsManagerClient, secret_id: str, token: str, clock: Clock = time.time) -> None:
        self.client = client
        self.secret_id = secret_id
        self.token = token
        self.clock = clock

    def run(self, step: str) -> None:
        """Run one step; a step already done, or a rotation already finished, does nothing."""
        if step not in STEPS:
            raise RotationError(f"unknown rotation step {step!r}", self.token)
        stages = self._stages()
        if CURRENT in stages.get(self.token, []):
            return  # this version is already the current key: a retried or repeated call
        if self.token in stages and PENDING not in stages[self.token]:
            raise RotationError(f"version {self.token} of the signing key is not staged for rotation", self.token)
        # The template also refuses a token Secrets Manager has not staged yet. createSecret
        # accepts one, since put_secret_value stages it; every later step needs it staged.
        if self.token not in stages and step != "createSecret":
            raise RotationError(f"version {self.token} of the signing key was never created", self.token)
        {
            "createSecret": self.create,
            "setSecret": self.set,
            "testSecret": self.test,
            "finishSecret": self.finish,
        }[step]()

    def _stages(self) -> dict[str, list[str]]:
        described = self.client.describe_secret(SecretId=self.secret_id)
        return dict(described.get("VersionIdsToStages", {}))

    def create(self) -> None:
        """Stage a new random key as AWSPENDING under this rotation's token (once)."""
        self.client.get_secret_value(SecretId=self.secret_id, VersionStage=CURRENT)  # the secret is readable
        try:
            self.client.get_secret_value(SecretId=self.secret_id, VersionId=self.token, VersionStage=PENDING)
            return  # created by an earlier attempt of this step
        except self.client.exceptions.ResourceNotFoundException:
            pass
        key = self.client.get_random_password(
            # As the template's GenerateSecretString: a key of limits.SIGNING_KEY_RULE.
            PasswordLength=limits.SIGNING_KEY_LENGTH,
            ExcludePunctuation=True,
        )["RandomPassword"]
        self.client.put_secret_value(
            SecretId=self.secret_id, ClientRequestToken=self.token, SecretString=key, VersionStages=[PENDING]
        )

    def set(self) -> None:
        """Nothing to do: no other system holds the key; agents read it from the secret."""

    def test(self) -> None:
        """The pending key signs a token that verifies, as minting will.

        Secrets Manager also runs this step alone: when rotation is configured without rotating
        at once (RotateImmediatelyOnUpdate false), it tests the configuration by creating an
        AWSPENDING version, running testSecret on it and removing it; and after a failed rotation
        AWSPENDING may sit on an empty version (RotateSecret, RotateImmediately and the description:
        https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html).
        What that test version holds AWS does not document (moto copies the current value into
        it), so a pending version without a usable value is logged and let pass: a deploy must not
        fail on it. finishSecret, not this step, refuses to promote anything that is not a key.
        """
        key = self._pending()
        if not limits.is_signing_key(key):
            logger.warning(
                "testSecret: the pending version holds no signing key; finishSecret will not promote it",
                version=self.token,
                rule=limits.SIGNING_KEY_RULE,
            )
            return
        raw = key.encode()
        now = self.clock()
        token = tokens.mint(raw, "rotation-test", "rotation_test", int(now) + 60)
        if not tokens.verify((raw,), "rotation-test", "rotation_test", token, now).valid:
            raise RotationError("a token signed with the pending key does not verify", self.token)

    def finish(self) -> None:
        """Make the pending key current, if it is a key; Secrets Manager labels the old one AWSPREVIOUS."""
        stages = self._stages()
        current = next((version for version, labels in stages.items() if CURRENT in labels), None)
        if current == self.token:
            return
        if not limits.is_signing_key(self._pending()):
            raise RotationError(f"the pending version is not {limits.SIGNING_KEY_RULE}: not promoted", self.token)
        moved = {"RemoveFromVersionId": current} if current else {}
        self.client.update_secret_version_stage(
            SecretId=self.secret_id, VersionStage=CURRENT, MoveToVersionId=self.token, **moved
        )

    def _pending(self) -> str | None:
        """The pending version's text; None when it has none (an empty or a binary version)."""
        try:
            value = self.client.get_secret_value(SecretId=self.secret_id, VersionId=self.token, VersionStage=PENDING)
        except self.client.exceptions.ResourceNotFoundException:
            return None  # a version with no value: "can't find the specified secret value"
        text = value.get("SecretString")
        return text if isinstance(text, str) else None


def rotate_step(client: SecretsManagerClient, event: dict[str, Any]) -> None:
    """Run the step of a Secrets Manager rotation event ({SecretId, ClientRequestToken, Step})."""
    try:
        secret_id, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    except (KeyError, TypeError) as exc:
        raise RotationError("not a Secrets Manager rotation event") from exc
    Rotation(client, secret_id, token).run(step)
