"""The Azure Blob Storage state backend: the state is one blob, the lock is a lease on it.

* The lock is a blob lease whose id *is* the lock id, so ``state unlock ID`` can release exactly that
  lease (a release with the wrong id is refused by the service: no race can break someone else's
  newer lock). Who holds it, since when and for what is kept in the blob's metadata.
* The lease is finite (``lease_seconds``, 15-60) and renewed by a background thread while the run
  holds it: a run that crashes leaves a lock that lapses on its own, like the local backend's dead-pid
  rule.
* Every write carries the lease and is conditional on the ETag this run last read or wrote
  (If-Match). A run whose lease lapsed or was broken, or that read an older state, gets a
  ``StateConflict`` and newer state is never overwritten. A write whose response was lost and that the
  SDK retried is recognised by reading the blob back.
* An absent blob and an empty one are both "no state yet" (locking creates the empty blob: a lease
  needs a blob).
* Apply's intent journal is an append blob beside the state blob (``<blob>.journal``,
  ``reconciler.state.journal``): each group of records is one Append Block, durable once acknowledged,
  and conditional on the journal's ETag as this run last left it, so a run whose journal was compacted
  and replaced under it (its lock broken) cannot append. Removing the journal empties it (the same SAS
  permissions as the state: no delete needed); an empty journal is no journal.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import quote, unquote

from azure.core import MatchConditions
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import BlobClient, BlobLeaseClient

from reconciler.state.backend import (
    LockInfo,
    StateConflict,
    StateLocked,
    changed_message,
    new_lock_info,
    serialize,
)
from reconciler.state.journal import pending, remove_compacted
from reconciler.state.model import State, StateError
from reconciler.workspace.config import AzureBlobStateConfig

_PREFIX = "reconcilerlock"  # metadata keys: reconcilerlockid, reconcilerlockwho, ...
# metadata key suffix -> LockInfo's JSON field
_FIELDS = {"id": "ID", "operation": "Operation", "who": "Who", "pid": "PID", "host": "Host", "created": "Created"}
_LEASE_LOST = {
    "LeaseIdMismatchWithBlobOperation",
    "LeaseNotPresentWithBlobOperation",
    "LeaseIdMissing",
    "LeaseLost",
    "LeaseIdMismatchWithLeaseOperation",
    "LeaseNotPresentWithLeaseOperation",
}


def client_from_config(config: AzureBlobStateConfig, env: dict[str, str] | None = None, **options: Any) -> BlobClient:
    """The blob's client, authenticated as ``reconciler.yaml`` says; secrets only from the environment.

    ``options`` go to the SDK client (``doctor`` passes ``retry_total=0`` to learn about an unreachable
    account in seconds rather than after the SDK's minute of retries)."""
    env = dict(os.environ) if env is None else env
    auth = config.auth
    if auth.type == "connection_string":
        value = env.get(auth.connection_string_env, "").strip()
        if not value:
            raise StateError(
                f"state.auth: the environment variable {auth.connection_string_env} (the storage account's "
                "connection string) is not set"
            )
        try:
            return BlobClient.from_connection_string(value, config.container, config.blob, **options)
        except ValueError as exc:
            raise StateError(
                f"state.auth: {auth.connection_string_env} is not a valid storage connection string ({exc})"
            ) from None
    assert config.account_url is not None  # the workspace check requires it for these
    if auth.type == "sas_token":
        token = env.get(auth.sas_token_env, "").strip().lstrip("?")
        if not token:
            raise StateError(f"state.auth: the environment variable {auth.sas_token_env} (a SAS token) is not set")
        return BlobClient(config.account_url, config.container, config.blob, credential=token, **options)
    from azure.identity import DefaultAzureCredential  # slow to import; only this mode needs it

    credential = DefaultAzureCredential(managed_identity_client_id=auth.managed_identity_client_id)
    return BlobClient(config.account_url, config.container, config.blob, credential=credential, **options)


class AzureBlobBackend:
    def __init__(self, blob: BlobClient, lease_seconds: int = 60) -> None:
        if not 15 <= lease_seconds <= 60:
            raise ValueError("a blob lease lasts 15 to 60 seconds")
        self._blob = blob
        self.lease_seconds = lease_seconds
        self._version: str | None = None  # ETag as last read or written; None: the blob was absent
        self._held: LockInfo | None = None
        self._lease: BlobLeaseClient | None = None
        self._stop_renewing = threading.Event()
        self._renewer: threading.Thread | None = None
        self.renew_error: str | None = None  # why renewal stopped early, if it did
        self._journal = AppendBlobJournal(blob, self.location)

    @property
    def location(self) -> str:
        return f"azure_blob://{self._blob.account_name}/{self._blob.container_name}/{self._blob.blob_name}"

    # -- read and write ----------------------------------------------------------------------------

    def read(self) -> State:
        with self._errors("read"):
            try:
                # A HEAD first: the SDK downloads an empty blob (a store locked but never written) by way of a
                # 416 answer whose streamed response, and socket, it leaves open.
                properties = self._blob.get_blob_properties()
                if properties.size == 0:
                    data, self._version = b"", str(properties.etag)
                else:
                    download = self._blob.download_blob()
                    data, self._version = download.readall(), download.properties.etag
            except ResourceNotFoundError as exc:
                _close(exc)
                self._container_missing(exc)
                self._version = None
                return pending(State(), self._journal, self.location)
        return pending(_parse(data, self.location), self._journal, self.location)

    def journal(self) -> AppendBlobJournal:
        return self._journal

    def write(self, state: State) -> None:
        if self._held is None or self._lease is None:
            raise StateError(f"the state {self.location} is written only under its lock (a bug: lock before writing)")
        data = serialize(state)
        with self._errors("write"):
            try:
                if self._version is None:
                    result = self._blob.upload_blob(
                        data, overwrite=False, lease=self._lease, metadata=_metadata(self._held)
                    )
                else:
                    result = self._blob.upload_blob(
                        data,
                        overwrite=True,
                        lease=self._lease,
                        metadata=_metadata(self._held),
                        etag=self._version,
                        match_condition=MatchConditions.IfNotModified,
                    )
            except (ResourceModifiedError, ResourceExistsError) as exc:
                _close(exc)
                if _code(exc) in _LEASE_LOST:
                    raise StateConflict(self._lost_message()) from None
                landed = self._landed(data)
                if landed is None:
                    raise StateConflict(changed_message(self.location)) from None
                self._version = landed
                return
            except HttpResponseError as exc:
                _close(exc)
                if exc.status_code == 412 and _code(exc) in _LEASE_LOST:
                    raise StateConflict(self._lost_message()) from None
                raise
        self._version = str(result["etag"])
        remove_compacted(state, self._journal)

    def _landed(self, data: bytes) -> str | None:
        """The blob's ETag if it holds exactly ``data`` (our own write, retried after a lost response)."""
        try:
            download = self._blob.download_blob()
            return str(download.properties.etag) if download.readall() == data else None
        except HttpResponseError as exc:
            _close(exc)
            return None

    def _lost_message(self) -> str:
        held = self.holder()
        reason = f" ({self.renew_error})" if self.renew_error else ""
        now = f"; it is now held by {held.describe()}" if held and self._held and held.id != self._held.id else ""
        return f"this run's lock on {self.location} lapsed or was broken{reason}{now}; nothing was written. Plan again"

    # -- locking -----------------------------------------------------------------------------------

    def holder(self) -> LockInfo | None:
        with self._errors("read the lock of"):
            try:
                props = self._blob.get_blob_properties()
            except ResourceNotFoundError as exc:
                _close(exc)
                self._container_missing(exc)
                return None
        if props.lease.state != "leased":
            return None
        return _lock_info(props.metadata or {})

    def lock(self, operation: str, timeout: float = 0.0) -> LockInfo:
        info = new_lock_info(operation)
        deadline = time.monotonic() + timeout
        with self._errors("lock"):
            self._ensure_blob()
            lease = BlobLeaseClient(self._blob, lease_id=info.id)
            while True:
                try:
                    lease.acquire(lease_duration=self.lease_seconds)
                    break
                except ResourceNotFoundError as exc:
                    _close(exc)
                    self._ensure_blob()  # deleted between the two calls
                except (ResourceExistsError, HttpResponseError) as exc:
                    _close(exc)
                    if getattr(exc, "status_code", None) != 409:
                        raise
                    if time.monotonic() >= deadline:
                        raise StateLocked(self.location, self.holder()) from None
                    time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))
            try:
                props = self._blob.get_blob_properties(lease=lease)
                result = self._blob.set_blob_metadata(
                    _metadata(info), lease=lease, etag=props.etag, match_condition=MatchConditions.IfNotModified
                )
            except BaseException:
                with suppress(HttpResponseError):
                    lease.release()
                raise
        # Taking the lock rewrote the metadata, so the ETag moved; the content did not. An absent blob
        # that locking created empty is the same "no state yet" the caller read.
        if self._version == props.etag or (self._version is None and props.size == 0):
            self._version = str(result["etag"])
        self._held, self._lease = info, lease
        self.renew_error = None
        self._stop_renewing = threading.Event()
        self._renewer = threading.Thread(
            target=self._renew, args=(lease, self._stop_renewing), name="state-lease-renewal", daemon=True
        )
        self._renewer.start()
        return info

    def _renew(self, lease: BlobLeaseClient, stop: threading.Event) -> None:
        # A third of the lease: two renewals may fail (a network blip) before the lease can lapse.
        while not stop.wait(self.lease_seconds / 3):
            try:
                lease.renew()
            except HttpResponseError as exc:
                _close(exc)
                if exc.status_code == 409 or _code(exc) in _LEASE_LOST:
                    self.renew_error = f"the lease could not be renewed: {_code(exc) or exc.status_code}"
                    return
            except (ServiceRequestError, ServiceResponseError) as exc:
                self.renew_error = f"the last lease renewal failed: {exc}"

    def _stop_renewal(self) -> None:
        self._stop_renewing.set()
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join(timeout=5)
        self._renewer = None

    def abandon(self) -> None:
        """Stop renewing without releasing: what a crashed run leaves behind (for tests and drills)."""
        self._stop_renewal()
        self._journal.close()

    def release(self, lock: LockInfo) -> None:
        self._stop_renewal()
        self._journal.close()
        lease, held = self._lease, self._held
        self._lease = self._held = None
        if lease is None or held is None or held.id != lock.id:
            return
        with suppress(HttpResponseError, ServiceRequestError, ServiceResponseError):
            try:
                result = self._blob.set_blob_metadata({}, lease=lease)
                self._version = str(result["etag"]) if self._version is not None else None
            finally:
                lease.release()  # lapsed or broken already: nothing to release, and nothing to report

    def unlock(self, lock_id: str) -> None:
        held = self.holder()
        if held is None:
            raise StateError(f"the state {self.location} is not locked")
        with self._errors("unlock"):
            try:
                # The lease id is the lock id: only that exact lease can be released this way.
                BlobLeaseClient(self._blob, lease_id=lock_id).release()
            except HttpResponseError as exc:
                _close(exc)
                if exc.status_code in (400, 409, 412):
                    raise StateError(f"the lock on {self.location} has id {held.id}, not {lock_id}") from None
                raise
            with suppress(HttpResponseError):  # a new holder may already have taken it: its metadata stays
                self._blob.set_blob_metadata({})
        if self._held is not None and self._held.id == lock_id:
            self._stop_renewal()
            self._held = self._lease = None

    # -- helpers -----------------------------------------------------------------------------------

    def _ensure_blob(self) -> None:
        # A HEAD first: the usual case (the blob is there) then leaves no error response holding a socket open.
        if self._blob.exists():
            return
        try:
            self._blob.upload_blob(b"", overwrite=False)
        except ResourceNotFoundError as exc:
            _close(exc)
            self._container_missing(exc)
            raise
        except (ResourceExistsError, ResourceModifiedError) as exc:
            _close(exc)  # another run made it meanwhile
        except HttpResponseError as exc:
            _close(exc)
            if exc.status_code not in (409, 412):
                raise

    def _container_missing(self, exc: HttpResponseError) -> None:
        if _code(exc) == "ContainerNotFound":
            raise StateError(
                f"the container {self._blob.container_name!r} does not exist in the storage account "
                f"{self._blob.account_name!r}; create it first (az storage container create --name "
                f"{self._blob.container_name} --account-name {self._blob.account_name} --auth-mode login)"
            ) from None

    def _errors(self, doing: str) -> contextlib.AbstractContextManager[None]:
        return _errors(doing, self.location)


class AppendBlobJournal:
    """The intent journal as an append blob beside the state blob."""

    def __init__(self, state_blob: BlobClient, state_location: str) -> None:
        # Not the backend: a reference cycle would leave connections to the garbage collector.
        self._state_blob = state_blob
        self._kept: BlobClient | None = None
        self._state_location = state_location
        self._location = state_location + ".journal"
        self._etag: str | None = None  # as this run's last create or append left it
        self._lock = threading.Lock()

    @property
    def location(self) -> str:
        return self._location

    def _client(self) -> BlobClient:
        """The journal blob's own client, kept while this run holds the lock and closed by ``close``."""
        if self._kept is None:
            self._kept = self._new_client()
        return self._kept

    def _new_client(self) -> BlobClient:
        # A client of its own, closed explicitly: one that shared the state client's connections would tie
        # them into reference cycles, and the garbage collector would drop their sockets unclosed.
        blob = self._state_blob
        url = blob.url
        query = ""
        if "?" in url:
            url, query = url.split("?", 1)
            query = "?" + query
        return BlobClient.from_blob_url(url + ".journal" + query, credential=blob.credential)

    def close(self) -> None:
        kept, self._kept = self._kept, None
        if kept is not None:
            kept.close()

    def read(self) -> bytes | None:
        with _errors("read the apply journal of", self._state_location):
            client = self._kept or self._new_client()
            try:
                # Not a download that may 404: its error leaves the streamed response, and its socket, open.
                if client.get_blob_properties().size == 0:
                    return b""
                return bytes(client.download_blob().readall())
            except ResourceNotFoundError as exc:
                _close(exc)
                return None
            finally:
                if client is not self._kept:
                    client.close()

    def create(self, data: bytes) -> None:
        with self._lock, _errors("write the apply journal of", self._state_location):
            client = self._client()
            client.create_append_blob()
            result = client.append_block(data)
            self._etag = str(result["etag"])

    def append(self, data: bytes) -> None:
        with self._lock, _errors("write the apply journal of", self._state_location):
            try:
                result = self._client().append_block(
                    data, etag=self._etag, match_condition=MatchConditions.IfNotModified
                )
            except (ResourceModifiedError, ResourceNotFoundError) as exc:
                _close(exc)
                raise StateConflict(
                    f"{self.location}: this run's apply journal was replaced by another run (was the lock broken?); "
                    "nothing more is sent. Plan again"
                ) from None
            self._etag = str(result["etag"])

    def remove(self) -> None:
        with self._lock, _errors("empty the apply journal of", self._state_location):
            self._client().create_append_blob()  # an empty journal is none; deleting would need one more permission
            self._etag = None


@contextmanager
def _errors(doing: str, location: str) -> Iterator[None]:
    try:
        yield
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise StateError(f"cannot {doing} the state {location}: the storage account did not answer ({exc})") from None
    except HttpResponseError as exc:
        _close(exc)
        code = _code(exc)
        answer = f"HTTP {exc.status_code} {code}: {_first_line(exc)}"
        if isinstance(exc, ClientAuthenticationError) or code in ("AuthenticationFailed", "AuthorizationFailure"):
            raise StateError(
                f"cannot {doing} the state {location}: the storage account refused the credentials "
                f"({answer}). Check state.auth: the connection string's key, the SAS token (not expired), or "
                "the identity DefaultAzureCredential found"
            ) from None
        if exc.status_code == 403:
            raise StateError(
                f"cannot {doing} the state {location}: access denied ({answer}). A SAS token needs the "
                "read, add, create and write permissions on the container; an Entra identity needs the role "
                "Storage Blob Data Contributor on it"
            ) from None
        raise StateError(f"cannot {doing} the state {location}: {answer}") from None


def _close(exc: HttpResponseError) -> None:
    """Close an error's response: left open, its socket outlives the exception and is finalized unclosed."""
    response = getattr(exc, "response", None)
    close = getattr(response, "close", None)
    if callable(close):
        with suppress(Exception):
            close()


def _parse(data: bytes, location: str) -> State:
    if not data.strip():
        return State()
    return State.parse(data, location)


def _metadata(info: LockInfo) -> dict[str, str]:
    values = info.to_json()
    return {f"{_PREFIX}{name}": quote(str(values[key]), safe="@:.-_ ()") for name, key in _FIELDS.items()}


def _lock_info(metadata: dict[str, str]) -> LockInfo:
    lowered = {k.lower(): unquote(v) for k, v in metadata.items()}
    if f"{_PREFIX}id" not in lowered:
        return LockInfo("unknown (a lease taken outside reconciler)", "unknown", "unknown", 0, "unknown", "unknown")
    values: dict[str, Any] = {key: lowered.get(f"{_PREFIX}{name}", "unknown") for name, key in _FIELDS.items()}
    try:
        values["PID"] = int(values["PID"])
    except ValueError:
        values["PID"] = 0
    return LockInfo.from_json(values)


def _code(exc: HttpResponseError) -> str:
    code = getattr(exc, "error_code", None)  # set by the storage SDK on its errors
    return str(getattr(code, "value", code) or "")


def _first_line(exc: HttpResponseError) -> str:
    return (exc.reason or str(exc).split("\n", 1)[0]).strip()
