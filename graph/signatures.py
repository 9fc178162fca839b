"""Signatures in GraphQL: the `signature` argument of uploads, and a file's signature."""

from datetime import datetime
from typing import Annotated, Any

import strawberry
from flrepo.documents.errors import InvalidInput
from flrepo.signing.states import FileSignature as FileSignatureRecord
from flrepo.signing.states import SignatureState as State
from flrepo.transfer.multipart import SignedUpload, StreamedUpload
from strawberry.file_uploads import Upload

SignatureState = strawberry.enum(
    State,
    name="SignatureState",
    description="Whether a trusted key signed the file (OpenSSF model-signing), checked offline",
)

SIGNATURE = Annotated[
    Upload | None,
    strawberry.argument(
        description="An OpenSSF model-signing bundle of the file (JSON), checked against the "
        "trusted keys; under the `require` policy a file without a verified one is refused"
    ),
]


@strawberry.type(description="A file's signature, as checked against the trusted keys")
class FileSignature:
    state: SignatureState  # type: ignore[valid-type]
    signer: str | None = strawberry.field(
        description="The trusted key's name, or the signing certificate's subject"
    )
    signed_at: datetime | None = strawberry.field(
        description="When the server received the bundle (a bundle carries no trusted time)"
    )
    detail: str | None = strawberry.field(description="Why the state is not VERIFIED")
    bundle_url: str | None = strawberry.field(
        description="GET this path for the bundle (null if the file is unsigned)"
    )

    @classmethod
    def of(cls, signature: FileSignatureRecord, file_url: str) -> "FileSignature":
        return cls(
            state=signature.state,
            signer=signature.signer,
            signed_at=signature.signed_at,
            detail=signature.detail or None,
            bundle_url=f"{file_url}/signature" if signature.bundle is not None else None,
        )


def signed(file: Any, signature: Any) -> Any:
    """The file an upload mutation stores, with the bundle sent as `signature`, if one was."""
    if signature is None:
        return file
    if not isinstance(file, StreamedUpload) or not isinstance(signature, StreamedUpload):
        raise InvalidInput("'signature' must be a file of the multipart request")
    return SignedUpload(file, signature.field)
