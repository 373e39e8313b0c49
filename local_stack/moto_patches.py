"""moto patches for the local emulator: speed-ups and the guarantees AWS gives that moto lacks.

Each patch is safe to apply twice (a second call changes nothing): the emulator applies them at start,
and the integration tier applies the ones it needs to moto in the test process.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from moto.core.responses import ActionResult

_applied: set[str] = set()
_lock = threading.RLock()


def once(patch: Callable[[], None]) -> Callable[[], None]:
    """Apply the decorated patch at most once per process, however often it is called."""

    @functools.wraps(patch)
    def apply() -> None:
        with _lock:
            if patch.__name__ in _applied:
                return
            patch()
            _applied.add(patch.__name__)
            if "atomic_dynamodb_writes" in _applied:
                # A patch applied after the locks may have replaced a write method with one of its own
                # (simple_set_updates does): lock the new one too, whatever order the patches ran in.
                _lock_dynamodb_writes()

    return apply


def fast_unix_time(dt: object = None) -> float:
    """moto.core.utils.unix_time without the datetime arithmetic: SQS calls it per message per request."""
    if dt is None:
        return time.time()
    from moto.core.utils import unix_time

    return unix_time(dt)  # type: ignore[arg-type]


def fast_unix_time_millis(dt: object = None) -> float:
    return fast_unix_time(dt) * 1000.0


@once
def apply_clock_fix() -> None:
    """Replace the clock helpers moto's SQS module imported (DESIGN §5: 37 s → 1.7 s to fill 2,000)."""
    import moto.sqs.models as sqs_models

    setattr(sqs_models, "unix_time", fast_unix_time)  # noqa: B010 - the module does not re-export it
    setattr(sqs_models, "unix_time_millis", fast_unix_time_millis)  # noqa: B010


@once
def cheap_retention_check() -> None:
    """Check a received message's retention from the queue's field, not via its full attribute set.

    moto computes every queue attribute (message counts included: a pass over all messages) for each
    message it hands out; on a 2,000-deep queue that was a quarter of the emulator's time.
    """
    from moto.sqs.models import Message, SQSBackend

    def is_message_valid_based_on_retention_period(self: SQSBackend, queue_name: str, message: Message) -> bool:
        retention = int(getattr(self.get_queue(queue_name), "message_retention_period"))  # noqa: B009 - set dynamically
        return bool(retention + message.sent_timestamp / 1000 > time.time())  # type: ignore[operator]

    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period  # type: ignore[method-assign]


@once
def cheap_content_dedup_check() -> None:
    """Read a queue's ContentBasedDeduplication flag on send without computing its whole attribute set.

    moto's send_message asks `queue.attributes` for that one flag, and the property counts the queue's
    messages (ApproximateNumberOfMessages*: a pass over all of them) on every message sent: sending n
    messages into a queue is O(n^2). A broadcast of 2,000 took 1.6 s of the emulator's CPU in
    SendMessageBatch, and one of 10,000 went past the api's 30 s timeout. The flag is read from its field.
    """
    from moto.sqs.models import Queue

    full = Queue.attributes

    class SendView(dict[str, Any]):
        """queue.attributes as send_message sees it: the flag it asks for, the rest computed when read."""

        def __init__(self, queue: Queue) -> None:
            super().__init__()
            self._queue = queue

        def get(self, key: str, default: Any = None) -> Any:
            if key == "ContentBasedDeduplication":
                if not self._queue.fifo_queue:
                    return default
                return str(bool(getattr(self._queue, "content_based_deduplication", False))).lower()
            return full.fget(self._queue).get(key, default)  # type: ignore[attr-defined]

    from moto.sqs.models import SQSBackend

    send_message = SQSBackend.send_message
    sending = threading.local()  # the queue this thread is sending into, if any

    def send_message_with_view(self: SQSBackend, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        previous = getattr(sending, "queue", None)
        sending.queue = self.get_queue(queue_name)
        try:
            return send_message(self, queue_name, *args, **kwargs)
        finally:
            sending.queue = previous

    def attributes(self: Queue) -> dict[str, Any]:
        # Every other reader (GetQueueAttributes, other threads) gets the full set, as before.
        if getattr(sending, "queue", None) is self:
            return SendView(self)
        return full.fget(self)  # type: ignore[attr-defined,no-any-return]

    Queue.attributes = property(attributes)  # type: ignore[method-assign,assignment]
    SQSBackend.send_message = send_message_with_view  # type: ignore[method-assign]


# moto's DynamoDB item size limit (AWS's 400 KB as moto measures it).
MAX_ITEM_BYTES = 405_000
# The size of the request body the current thread serves (None: none, unknown or compressed).
_serving = threading.local()


@once
def incremental_item_size() -> None:
    """Check a DynamoDB item's 400 KB limit from a running total, not by re-measuring the whole item.

    moto's LimitedSizeDict measures every attribute of the item again on each attribute it sets: O(k^2)
    per item of k attributes. For a ledger record (17 attributes) that was 82 % of put_item's time, and
    BatchWriteItem was most of the emulator's CPU while accepting a broadcast (0.8 s for 2,000 records).
    A new item (every put) is measured once, whole, rather than attribute by attribute: its sizes only add
    up, so the total is the largest it reaches while moto fills it. Same limit (405,000 bytes, as moto),
    same exception; each entry measured as moto measures it.

    A new item built while serving a request of at most MAX_ITEM_BYTES is not measured at all: no item of
    it can be bigger than the request. moto measures each attribute name and value no larger than its JSON
    text (strings in UTF-8 bytes, numbers by their digits, a boolean or null as 1, sets, lists and maps as
    the sum of their parts), and any item built then is the request's or a projection or copy of one
    already stored. Every put of a BatchWriteItem (10-15 KB for 25 ledger records) was measured, a fifth
    of its CPU. Its sizes are measured when it is first updated (sizes_of), as copies are.
    """
    from moto.core.responses import BaseResponse
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    original_call_action = BaseResponse.call_action

    def call_action(self: BaseResponse) -> Any:
        request = self.normalized_request
        body = request.data
        # A compressed body says nothing of the size of what it holds.
        plain = isinstance(body, bytes) and request.headers.get("Content-Encoding", "identity") == "identity"
        _serving.request_bytes = len(body) if plain else None
        try:
            return original_call_action(self)
        finally:
            _serving.request_bytes = None  # items built outside a request are measured

    def measure(part: Any) -> int:
        return int(part.size() if type(part) is DynamoType else bytesize(str(part)))

    def entry_size(key: Any, value: Any) -> int:
        return measure(key) + measure(value)

    def sizes_of(item: LimitedSizeDict) -> dict[Any, int]:
        sizes: dict[Any, int] | None = item.__dict__.get("_entry_sizes")
        if sizes is None or sizes.keys() != item.keys():
            # Filled by update() or copied (which bypass __setitem__), or changed since: measure it all once.
            sizes = {key: entry_size(key, value) for key, value in item.items()}
            item.__dict__["_entry_sizes"] = sizes
        return sizes

    def setitem(self: LimitedSizeDict, key: str, value: Any) -> None:
        sizes = sizes_of(self)
        new = entry_size(key, value)
        if sum(sizes.values()) - sizes.get(key, 0) + new > MAX_ITEM_BYTES:
            raise ItemSizeTooLarge
        dict.__setitem__(self, key, value)
        sizes[key] = new

    def delitem(self: LimitedSizeDict, key: str) -> None:
        dict.__delitem__(self, key)
        self.__dict__.get("_entry_sizes", {}).pop(key, None)

    original_init = Item.__init__

    def new_item(self: Item, hash_key: DynamoType, range_key: DynamoType | None, attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        values = {key: DynamoType(value) for key, value in attrs.items()}
        self.attrs = LimitedSizeDict()
        dict.update(self.attrs, values)  # dict's own update: no per-attribute __setitem__
        request_bytes = getattr(_serving, "request_bytes", None)
        if request_bytes is None or request_bytes > MAX_ITEM_BYTES:
            sizes = {key: entry_size(key, value) for key, value in values.items()}
            if sum(sizes.values()) > MAX_ITEM_BYTES:
                raise ItemSizeTooLarge
            self.attrs.__dict__["_entry_sizes"] = sizes

    BaseResponse.call_action = call_action  # type: ignore[method-assign]
    LimitedSizeDict.__setitem__ = setitem  # type: ignore[method-assign]
    LimitedSizeDict.__delitem__ = delitem  # type: ignore[method-assign,assignment]
    Item.__init__ = new_item  # type: ignore[method-assign]
    Item.init_through_moto = original_init  # type: ignore[attr-defined]  # kept for the comparison test


@once
def unconditional_puts_skip_conditions() -> None:
    """A put with no condition (every BatchWriteItem put) does not build and evaluate an empty condition.

    moto's PutItem already stores an unconditional put as an overwrite; its BatchWriteItem did not, and
    parsed and evaluated an empty condition for every item. With no condition both ways store the same
    item. Conditional puts go through moto's evaluation as before.
    """
    from moto.dynamodb.models.table import Table

    original = Table.put_item

    @functools.wraps(original)
    def put_item(
        self: Table,
        item_attrs: dict[str, Any],
        expected: dict[str, Any] | None = None,
        condition_expression: str | None = None,
        expression_attribute_names: dict[str, str] | None = None,
        expression_attribute_values: dict[str, Any] | None = None,
        overwrite: bool = False,
        return_values_on_condition_check_failure: str | None = None,
    ) -> Any:
        return original(
            self,
            item_attrs,
            expected,
            condition_expression,
            expression_attribute_names,
            expression_attribute_values,
            overwrite or (not expected and not condition_expression),
            return_values_on_condition_check_failure,
        )

    Table.put_item = put_item  # type: ignore[method-assign]
    Table.put_item_through_moto = original  # type: ignore[attr-defined]  # kept for the comparison test


class _ActionNames:
    """The function names of a response class, as moto lists them, answering `name in` for one name."""

    def __init__(self, response_class: type) -> None:
        self._class = response_class

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and inspect.isfunction(getattr(self._class, name, None))


@once
def direct_action_lookup() -> None:
    """moto lists a response class's functions (inspect.getmembers over a hundred or so) on every request,
    only to ask whether the action is one of them: a tenth of a small request's emulator CPU. The one name
    is looked up instead: the same answer, also for an action a patch adds or removes later."""
    import moto.core.responses as responses

    responses.method_names_from_class = _ActionNames  # type: ignore[assignment,attr-defined]


@once
def untracked_model_instances() -> None:
    """moto does not keep every model object it ever made.

    moto's BaseModel appends each new instance to a list on its class (for the /moto-api dashboard, which
    the emulator does not use): every SQS message ever sent, every DynamoDB item ever written (also those
    replaced or deleted since) and every table copy a transaction takes for its rollback stayed in memory.
    Each claim transaction then left a copy of the ledger's item index, so the emulator grew faster the
    longer it ran: 0.26, 0.49 and 0.86 GB after three 10,000-recipient broadcasts, 18.6 GB after 35, each accept
    slower than the one before. Objects are still held by what uses them (tables, queues); nothing else.
    """
    from moto.core.common_models import BaseModel

    def new(cls: type[BaseModel], *args: Any, **kwargs: Any) -> BaseModel:
        return object.__new__(cls)

    BaseModel.__new__ = new  # type: ignore[method-assign]


@once
def one_backup_per_transaction() -> None:
    """TransactWriteItems backs up only the items it touches, once, and restores only those.

    For rollback, moto deep-copies the whole table for every item of a transaction: a 100-item claim on
    a 2,000-record ledger copied 200,000 items per call and grew the emulator to 6 GB. Then a copy of the
    table's item index per transaction (shared items) still cost time in proportion to the table: each
    claim on a ledger of 150,000 records copied 150,000 entries, and accepts grew slower run by run. Now
    the touched items are copied before the transaction and put back if it fails; moto's rollback finds
    the live table as its "copy" (the same table, untouched items and all).
    """
    import copy
    import types

    import moto.dynamodb.models as models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    state = threading.local()

    def deepcopy(obj: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(state, "in_transaction", False) and isinstance(obj, Table):
            return obj  # the transaction restores what it touched itself
        return copy.deepcopy(obj, *args, **kwargs)

    setattr(models, "copy", types.SimpleNamespace(deepcopy=deepcopy, copy=copy.copy))  # noqa: B010
    original = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved: dict[str, dict[Any, Any]] = {}
        for entry in transact_items:
            op = next(iter(entry.values()))
            table = self.tables.get(op.get("TableName"))
            key = op.get("Key") or op.get("Item") or {}
            if table is not None and table.hash_key_attr in key:
                hash_key = DynamoType(key[table.hash_key_attr])
                # The item (or, with a range key, its hash key's items) as it was; None: there was none.
                found = table.items.get(hash_key)
                saved.setdefault(table.name, {})[hash_key] = None if found is None else copy.deepcopy(found)
        state.in_transaction = True
        try:
            original(self, transact_items)
        except BaseException:
            for name, items in saved.items():
                table = self.tables.get(name)
                for hash_key, before in items.items() if table is not None else ():
                    if before is None:
                        table.items.pop(hash_key, None)
                    else:
                        table.items[hash_key] = before
            raise
        finally:
            state.in_transaction = False

    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    # moto's own, for the comparison test (its backup is a real copy outside a patched transaction).
    models.DynamoDBBackend.transact_write_items_through_moto = original  # type: ignore[attr-defined]


# One lock per table: writes to different tables (idempotency records, ledger claims) never wait for each
# other; a transaction takes the locks of its tables in name order.
_table_locks: dict[str, threading.RLock] = {}
_table_locks_guard = threading.Lock()
_DYNAMODB_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")


def _table_lock(name: str) -> threading.RLock:
    with _table_locks_guard:
        return _table_locks.setdefault(name, threading.RLock())


def _tables_written(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[str]:
    if name == "transact_write_items":
        items = kwargs.get("transact_items", args[1] if len(args) > 1 else [])
        return sorted({str(next(iter(item.values())).get("TableName")) for item in items})
    return [str(kwargs.get("table_name", args[1] if len(args) > 1 else ""))]


def _lock_dynamodb_writes() -> None:
    """Wrap each DynamoDB write method that is not wrapped yet in its tables' locks."""
    import contextlib

    from moto.dynamodb.models import DynamoDBBackend

    for name in _DYNAMODB_WRITES:
        original = getattr(DynamoDBBackend, name)
        if getattr(original, "_holds_table_locks", False):
            continue

        def locked(*args: Any, _original: Any = original, _name: str = name, **kwargs: Any) -> Any:
            with contextlib.ExitStack() as held:
                for table in _tables_written(_name, args, kwargs):
                    held.enter_context(_table_lock(table))
                return _original(*args, **kwargs)

        functools.update_wrapper(locked, original)
        locked._holds_table_locks = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, locked)


def dynamodb_writes_hold_table_locks() -> bool:
    """Whether every DynamoDB write method of moto is wrapped in its tables' locks (for tests)."""
    from moto.dynamodb.models import DynamoDBBackend

    return all(getattr(getattr(DynamoDBBackend, name), "_holds_table_locks", False) for name in _DYNAMODB_WRITES)


@once
def atomic_dynamodb_writes() -> None:
    """Make each DynamoDB write (its condition check and its change) atomic, as DynamoDB guarantees.

    moto checks a condition and then writes without a lock, so two threads can both pass the same
    condition: two claims of one rate-limit slot, two idempotency records "in progress", a cancel and a
    send that both win. A lock per table around every write restores the guarantee the service relies on.
    Patches applied later that replace a write method get the lock too (see `once`).
    """
    _lock_dynamodb_writes()


@once
def emulate_message_move_task() -> None:
    """StartMessageMoveTask, which moto lacks: move every visible message of a DLQ to a destination queue.

    As in AWS, the moved messages keep their bodies and start again with a receive count of 0. Without a
    DestinationArn they go back to the queue whose redrive policy names the DLQ. The move is done at once.
    """
    import uuid

    from moto.core.responses import ActionResult
    from moto.sqs.exceptions import QueueDoesNotExist
    from moto.sqs.models import SQSBackend
    from moto.sqs.responses import SQSResponse

    def start_message_move_task(self: SQSResponse) -> ActionResult:
        backend: SQSBackend = self.sqs_backend
        source_arn = self._get_param("SourceArn")
        source = backend.get_queue(source_arn.rsplit(":", 1)[-1])
        destination_arn = self._get_param("DestinationArn")
        if destination_arn:
            destination = backend.get_queue(destination_arn.rsplit(":", 1)[-1])
        else:
            origins = [
                q for q in backend.queues.values() if (q.redrive_policy or {}).get("deadLetterTargetArn") == source_arn
            ]
            if not origins:
                raise QueueDoesNotExist()
            destination = origins[0]
        with source._messages_lock:
            moving = [m for m in source._messages if m.visible and not m.delayed]
            source._messages = [m for m in source._messages if m not in moving]
        for message in moving:
            message.approximate_receive_count = 0
            message.change_visibility(0)
            destination.add_message(message)
        return ActionResult({"TaskHandle": str(uuid.uuid4())})

    SQSResponse.start_message_move_task = start_message_move_task  # type: ignore[attr-defined]


@once
def serialize_receives() -> None:
    """Make ReceiveMessage atomic per queue.

    moto picks visible messages and marks them received without a lock, so two concurrent receives (five
    pollers per queue here) can both take the same message: a duplicate AWS would not produce that way.
    Long polling is kept, but waits outside the lock so one poller never blocks another. Deletes and
    visibility changes take the same lock: they take messages out of the queue's pending set, which a
    receive iterates ("Set changed size during iteration" when a poller deleted while another received).
    """
    from moto.sqs.models import SQSBackend

    original = SQSBackend.receive_message
    original_delete = SQSBackend.delete_message
    original_change = SQSBackend.change_message_visibility
    # Reentrant: a receive that moves messages to a DLQ changes their visibility under its own lock.
    locks: dict[str, threading.RLock] = {}
    guard = threading.Lock()

    def lock_of(queue_name: str) -> threading.RLock:
        with guard:
            return locks.setdefault(queue_name, threading.RLock())

    def receive_message(
        self: SQSBackend,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> Any:
        lock = lock_of(queue_name)
        deadline = time.monotonic() + (wait_seconds_timeout or 0)
        while True:
            with lock:
                result = original(self, queue_name, count, 0, visibility_timeout, message_attribute_names)
            remaining = deadline - time.monotonic()
            if result or remaining <= 0:
                return result
            self.get_queue(queue_name).wait_for_messages(min(0.2, remaining))  # type: ignore[arg-type]

    def delete_message(self: SQSBackend, queue_name: str, receipt_handle: str) -> None:
        with lock_of(queue_name):
            original_delete(self, queue_name, receipt_handle)

    def change_message_visibility(
        self: SQSBackend, queue_name: str, receipt_handle: str, visibility_timeout: int
    ) -> None:
        with lock_of(queue_name):
            original_change(self, queue_name, receipt_handle, visibility_timeout)

    SQSBackend.receive_message = receive_message  # type: ignore[method-assign]
    SQSBackend.delete_message = delete_message  # type: ignore[method-assign]
    SQSBackend.change_message_visibility = change_message_visibility  # type: ignore[method-assign]


@once
def cache_condition_lexing() -> None:
    """Tokenize each DynamoDB condition expression once, not on every call.

    moto lexes the expression text of every conditional write character by character; the idempotency
    and rate-limit writes repeat a handful of expressions thousands of times. The tokens depend on the
    text alone, so they are cached by it and copied out per call (the parser consumes its deque).
    """
    from collections import deque

    from moto.dynamodb.comparisons import ConditionExpressionParser

    original = ConditionExpressionParser._lex_condition_expression
    cache: dict[str, tuple[Any, ...]] = {}

    def lex(self: ConditionExpressionParser) -> Any:
        text = self.condition_expression or ""
        tokens = cache.get(text)
        if tokens is None:
            tokens = tuple(original(self))
            cache[text] = tokens
        return deque(node._replace(children=list(node.children or [])) if node.children else node for node in tokens)

    ConditionExpressionParser._lex_condition_expression = lex  # type: ignore[method-assign]


# Parsed expressions kept (least recently used dropped): the service's few conditions with the values of
# the batches in flight, and its few update expressions' texts.
_PARSED_EXPRESSIONS_KEPT = 512


@once
def cache_condition_parsing() -> None:
    """Parse each DynamoDB condition (expression, names and values) once, not for every item it is checked on.

    A ledger claim is one transaction of up to 100 updates with the same condition and, within a batch, the
    same values; moto parsed it three times per item (the request's validation, the transaction's check,
    the update's own check): 40 % of a 50-message claim's CPU, and a batch's claim is time its environment
    sends nothing. The parsed condition is a tree of operators that evaluating against an item never
    changes; the names and values the parse found (which moto checks for unused ones) are kept with it.
    An expression that fails to parse is not kept: it fails again, as before.
    """
    from moto.dynamodb.comparisons import ConditionExpressionParser

    original = ConditionExpressionParser.parse
    parsed: OrderedDict[tuple[str, str, str], tuple[Any, tuple[str, ...], tuple[str, ...]]] = OrderedDict()
    lock = threading.Lock()

    def parse(self: ConditionExpressionParser) -> Any:
        try:
            key = (
                self.condition_expression or "",
                json.dumps(self.expression_attribute_names, sort_keys=True),
                json.dumps(self.expression_attribute_values, sort_keys=True),
            )
        except TypeError:  # a binary value: not worth a key of its own
            return original(self)
        with lock:
            found = parsed.get(key)
            if found is not None:
                parsed.move_to_end(key)
        if found is None:
            names, values = len(self.expr_attr_names_found), len(self.expr_attr_values_found)
            op = original(self)
            found = (op, tuple(self.expr_attr_names_found[names:]), tuple(self.expr_attr_values_found[values:]))
            with lock:
                parsed[key] = found
                if len(parsed) > _PARSED_EXPRESSIONS_KEPT:
                    parsed.popitem(last=False)
            return op
        self.expr_attr_names_found.extend(found[1])
        self.expr_attr_values_found.extend(found[2])
        return found[0]

    ConditionExpressionParser.parse = parse  # type: ignore[method-assign]
    ConditionExpressionParser.parse_through_moto = original  # type: ignore[attr-defined]  # for the comparison test


class _CachedUpdateExpressions:
    """Stands in for moto's UpdateExpressionParser where moto's request checks only read the tree it makes."""

    parser: ClassVar[Any] = None  # moto's UpdateExpressionParser, set by the patch
    _trees: ClassVar[OrderedDict[str, Any]] = OrderedDict()
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def make(cls, expression: str) -> Any:
        with cls._lock:
            tree = cls._trees.get(expression)
            if tree is not None:
                cls._trees.move_to_end(expression)
                return tree
        tree = cls.parser.make(expression)  # an expression that fails to parse raises, and is not kept
        with cls._lock:
            cls._trees[expression] = tree
            if len(cls._trees) > _PARSED_EXPRESSIONS_KEPT:
                cls._trees.popitem(last=False)
        return tree


@once
def cache_update_expression_checks() -> None:
    """Parse each update expression's text once for the request checks of UpdateItem and TransactWriteItems.

    Before writing, moto's request handlers parse every update expression only to list the attribute names
    and values it uses (to refuse unused ones): a third of the emulator's CPU for a ledger claim or a
    cancel (one transaction of up to 100 updates, all with the same text), measured in process. Those
    checks only read the syntax tree, so it is kept by the text, as the parsed conditions are. The write
    itself (moto's update_item, which changes the tree it validates) still parses its own.
    """
    import moto.dynamodb.responses as responses

    _CachedUpdateExpressions.parser = vars(responses)["UpdateExpressionParser"]
    setattr(responses, "UpdateExpressionParser", _CachedUpdateExpressions)  # noqa: B010


@once
def cached_service_dispatch() -> None:
    """Remember which moto app serves a (host, credential scope) instead of working it out per request.

    moto matches every request's host against every service's URL patterns and lists its own modules
    on disk to do so: a fifth of the emulator's time under load. The answer depends only on the host,
    the service and region signed into the Authorization header, and the moto-api path prefix.
    """
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.get_application
    apps: dict[tuple[str, str, bool], Any] = {}

    def get_application(self: DomainDispatcherApplication, environ: dict[str, Any]) -> Any:
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        scope = authorization.split("Credential=", 1)[-1].split(",", 1)[0].split("/", 2)[-1] if authorization else ""
        path = environ.get("PATH_INFO", "")
        special = path.startswith(("/moto-api", "/latest/", "/favicon.ico"))
        if not scope or special:
            return original(self, environ)
        key = (environ.get("HTTP_HOST", ""), scope, special)
        app = apps.get(key)
        if app is None:
            app = apps[key] = original(self, environ)
        return app

    DomainDispatcherApplication.get_application = get_application  # type: ignore[method-assign]


# DynamoDB operations whose answers hold only item attributes (already in DynamoDB's JSON), counts, keys
# and capacities: their result dict is the wire body as it is.
_PLAIN_DYNAMODB_ANSWERS = frozenset(
    {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "BatchGetItem", "BatchWriteItem", "TransactWriteItems", "Query"}
)


@once
def plain_dynamodb_answers() -> None:
    """Write the answers of DynamoDB's item operations as JSON directly, not through moto's shape serializer.

    moto 5.2 walks every answer through botocore's shape model, looking up each attribute's possible names:
    measured, 150 ms of the 180 ms of a 100-item BatchGetItem, and 8.5 ms of emulator CPU per email sent.
    The answers of the operations above are already DynamoDB's wire JSON; the shape walk adds nothing to
    them (tests/integration/test_moto_patches.py compares both paths).
    """
    from moto.dynamodb.responses import DynamoResult

    original = DynamoResult.execute_result

    def execute_result(self: DynamoResult, context: Any) -> Any:
        if context.operation_model.name not in _PLAIN_DYNAMODB_ANSWERS or not isinstance(self.result, dict):
            return original(self, context)
        try:
            body = json.dumps({key: value for key, value in self.result.items() if value is not None})
        except TypeError:
            return original(self, context)  # a binary attribute (bytes): the serializer base64-encodes it
        return 200, {"Content-Type": "application/x-amz-json-1.0"}, body

    DynamoResult.execute_result = execute_result  # type: ignore[method-assign,assignment]
    DynamoResult.serialize_with_shapes = original  # type: ignore[attr-defined]  # kept for the comparison test


@functools.cache
def _plain_json_result_type() -> type[ActionResult]:
    from moto.core.responses import ActionResult
    from moto.core.serialize import BaseJSONSerializer

    class PlainJsonResult(ActionResult):
        def execute_result(self, context: Any) -> Any:
            if not issubclass(context.serializer_class, BaseJSONSerializer):
                return super().execute_result(context)
            try:
                body = json.dumps(self.result)
            except TypeError:
                return super().execute_result(context)  # bytes (a binary value): the serializer encodes them
            return 200, {"Content-Type": "application/x-amz-json-1.0"}, body

    return PlainJsonResult


def plain_json_result(result: Any) -> ActionResult:
    """An SQS answer written as JSON as it is (JSON protocol), or through moto's serializer (query protocol)."""
    return _plain_json_result_type()(result)


@once
def plain_sqs_receive_answers() -> None:
    """Write ReceiveMessage answers (JSON protocol) as JSON directly, not through moto's shape serializer.

    The pollers' receives were the emulator's third-largest cost (1.4 ms of CPU per email sent). The
    answer moto builds is already the wire JSON; messages with message attributes, and the query (XML)
    protocol, still go through the serializer (tests/integration/test_moto_patches.py compares both).
    """
    from moto.sqs.responses import SQSResponse

    original = SQSResponse.receive_message

    def receive_message(self: SQSResponse) -> ActionResult:
        answer = original(self)
        messages = answer.result.get("Messages", []) if isinstance(answer.result, dict) else None
        if messages is None or any("MessageAttributes" in message for message in messages):
            return answer
        return plain_json_result(answer.result)

    SQSResponse.receive_message = receive_message  # type: ignore[method-assign]
    SQSResponse.receive_message_with_shapes = original  # type: ignore[attr-defined]  # for the comparison test


# The SQS writes whose answers plain_sqs_write_answers writes directly.
_PLAIN_SQS_WRITES = ("send_message", "send_message_batch", "delete_message_batch")


@once
def plain_sqs_write_answers() -> None:
    """Write the answers of SendMessage, SendMessageBatch and DeleteMessageBatch (JSON protocol) as JSON
    directly, not through moto's shape serializer.

    Accepting a 2,000-recipient broadcast makes 200 SendMessageBatch calls; the serializer's walk of their
    answers was 0.44 s of the emulator's CPU (profiled in-process). The answers are ids and digests,
    already wire JSON; the query (XML) protocol still goes through the serializer
    (tests/integration/test_moto_patches.py compares both).
    """

    from moto.core.responses import ActionResult
    from moto.sqs.responses import SQSResponse

    def plain(original: Callable[[SQSResponse], ActionResult]) -> Callable[[SQSResponse], ActionResult]:
        @functools.wraps(original)
        def answer(self: SQSResponse) -> ActionResult:
            result = original(self)
            if not isinstance(result, ActionResult) or not isinstance(result.result, dict):
                return result
            return plain_json_result(result.result)

        return answer

    for name in _PLAIN_SQS_WRITES:
        original = getattr(SQSResponse, name)
        setattr(SQSResponse, name, plain(original))
        setattr(SQSResponse, f"{name}_with_shapes", original)  # for the comparison test


# `SET a = :v, #b = :w`: only attribute names (plain or #placeholders) set to value placeholders.
_SIMPLE_SET = re.compile(
    r"\s*SET\s+((?:#?\w+\s*=\s*:\w+\s*,\s*)*#?\w+\s*=\s*:\w+)\s*(?:REMOVE\s+(#?\w+(?:\s*,\s*#?\w+)*)\s*)?",
    re.IGNORECASE,
)
_SIMPLE_SET_VALUES_MAX_CHARS = 64_000  # larger writes take moto's own path, item size checks included


@once
def simple_set_updates() -> None:
    """Apply UpdateItem expressions of the form `SET name = :value, ... [REMOVE name, ...]` directly to the
    item.

    moto parses every update expression and runs ten validator passes over its syntax tree: 2 to 3 ms of the
    emulator's CPU per write, most of the ledger claims' and the rate limiter's cost (a 40-record claim
    transaction, whose updates also REMOVE, took 100-130 ms). For top-level attributes set to given values
    and top-level attributes removed, the result is the values put on the item and the others gone; the
    condition is still evaluated by moto. Anything else (other actions, nested paths, key attributes, a
    path both set and removed, streams, attribute updates) goes through moto
    (tests/integration/test_moto_patches.py compares both paths).
    """
    from moto.dynamodb.comparisons import create_condition_expression_parser
    from moto.dynamodb.exceptions import ConditionalCheckFailed
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    original = DynamoDBBackend.update_item

    def assignments(
        expression: str, names: dict[str, str] | None, values: dict[str, Any] | None
    ) -> tuple[dict[str, dict[str, Any]], set[str]] | None:
        """The attributes set (name -> value) and removed, or None for moto's own path."""
        match = _SIMPLE_SET.fullmatch(expression or "")
        if match is None:
            return None
        result: dict[str, dict[str, Any]] = {}
        for part in match.group(1).split(","):
            target, placeholder = (side.strip() for side in part.split("="))
            name = (names or {}).get(target) if target.startswith("#") else target
            value = (values or {}).get(placeholder)
            if name is None or not isinstance(value, dict) or name in result:
                return None  # moto raises the error DynamoDB would
            result[name] = value
        removed: set[str] = set()
        for target in (match.group(2) or "").split(",") if match.group(2) else ():
            target = target.strip()
            name = (names or {}).get(target) if target.startswith("#") else target
            if name is None or name in result or name in removed:
                return None  # overlapping paths, or an unknown name: moto raises
            removed.add(name)
        if len(json.dumps(result)) > _SIMPLE_SET_VALUES_MAX_CHARS:
            return None
        return result, removed

    def update_item(
        self: DynamoDBBackend,
        table_name: str,
        key: dict[str, dict[str, Any]],
        update_expression: str,
        expression_attribute_names: dict[str, Any],
        expression_attribute_values: dict[str, Any],
        attribute_updates: dict[str, Any] | None = None,
        expected: dict[str, Any] | None = None,
        condition_expression: str | None = None,
        return_values_on_condition_check_failure: str | None = None,
    ) -> Any:
        arguments = (
            table_name,
            key,
            update_expression,
            expression_attribute_names,
            expression_attribute_values,
            attribute_updates,
            expected,
            condition_expression,
            return_values_on_condition_check_failure,
        )
        changes = (
            None
            if attribute_updates or expected
            else assignments(update_expression, expression_attribute_names, expression_attribute_values)
        )
        table = self.tables.get(table_name)
        key_names = {table.hash_key_attr, table.range_key_attr} if table is not None else set()
        if (
            changes is None
            or table is None
            or table.stream_shard is not None
            or key_names & (set(changes[0]) | changes[1])
            or set(key) - key_names
            or not set(key) >= {name for name in key_names if name}
        ):
            return original(self, *arguments)
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        item = table.get_item(hash_value, range_value)
        condition = create_condition_expression_parser(
            condition_expression, expression_attribute_names, expression_attribute_values
        ).parse()
        if not condition.expr(item):
            if return_values_on_condition_check_failure == "ALL_OLD" and item is not None:
                raise ConditionalCheckFailed(item=item.to_json()["Attributes"])
            raise ConditionalCheckFailed
        if item is None:
            table.put_item(dict(key))
            item = table.get_item(hash_value, range_value)
        assert isinstance(item, Item)
        assigned, removed = changes
        for name, value in assigned.items():
            item.attrs[name] = DynamoType(value)
        for name in removed:
            if name in item.attrs:
                del item.attrs[name]
        return item

    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
    DynamoDBBackend.update_item_through_moto = original  # type: ignore[attr-defined]  # for the comparison test


@once
def quick_sqs_scans() -> None:
    """Visible-message scans and deletes by receipt handle in one cheap pass over the queue.

    moto's `Queue.messages` reads the clock twice per message and `delete_message` builds two lists of
    receipt handles per message, twice, for every handle deleted: on a queue 2,000 deep the pollers'
    receives and deletes were a third of the emulator's time. Same answers, one pass each.
    """
    import moto.sqs.models as sqs_models
    from moto.sqs.exceptions import ReceiptHandleIsInvalid

    def messages(self: sqs_models.Queue) -> list[sqs_models.Message]:
        now = sqs_models.unix_time_millis()  # type: ignore[attr-defined]  # the clock fix's, if applied
        return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]

    def delete_message(self: sqs_models.Queue, receipt_handle: str) -> None:
        if receipt_handle in self.deleted_messages:
            return  # already deleted: DeleteMessage is idempotent
        index = next(
            (
                index
                for index, message in enumerate(self._messages)
                if message.receipt_handle == receipt_handle or receipt_handle in message._old_receipt_handles
            ),
            None,
        )
        if index is None:
            raise ReceiptHandleIsInvalid()
        message = self._messages[index]
        self.pending_messages.discard(message)
        self.deleted_messages.update(message.all_receipt_handles)  # type: ignore[arg-type]
        # A new list, as moto does: a concurrent receive may be iterating over the old one.
        self._messages = self._messages[:index] + self._messages[index + 1 :]

    sqs_models.Queue.messages = property(messages)  # type: ignore[method-assign,assignment]
    sqs_models.Queue.delete_message = delete_message  # type: ignore[method-assign]


# The item and message operations whose JSON request moto's shape walk would only copy, when it holds no
# blob (the walk base64-decodes blobs: DynamoDB's B and BS, SQS's binary message attributes).
_PLAIN_REQUESTS = {
    "dynamodb": frozenset(
        {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "BatchGetItem", "BatchWriteItem", "TransactWriteItems"}
        | {"TransactGetItems", "Query"}
    ),
    "sqs": frozenset(
        {"SendMessage", "SendMessageBatch", "ReceiveMessage", "DeleteMessage", "DeleteMessageBatch"}
        | {"ChangeMessageVisibility", "ChangeMessageVisibilityBatch"}
    ),
}
_BLOB_MEMBERS = re.compile(rb'"(B|BS|BinaryValue|BinaryListValues)"\s*:')


# Where the emulator's IAM check leaves a request's body and the JSON object it decoded from it
# (emulator.IamGuard), in the WSGI environ.
PARSED_BODY = "local_stack.parsed_body"


def json_params(body: bytes, environ: Mapping[str, Any]) -> Any:
    """A JSON request's parameters: the object the IAM check decoded from this very body, else decoded here.
    Each call signed by a function was decoded twice (10 KB for a 25-item BatchWriteItem)."""
    parsed = environ.get(PARSED_BODY)
    if parsed is not None and parsed[0] == body:
        return parsed[1]
    return json.loads(body) if body else {}


@once
def plain_json_requests() -> None:
    """Read the JSON requests of DynamoDB's item operations and SQS's message operations with json.loads,
    not through moto's walk of botocore's shape model.

    The walk visits every attribute of every item against its shape and returns the same dicts for these
    requests: measured, 0.5 s of the emulator's ~2 s of CPU while accepting a 2,000-recipient broadcast
    (80 BatchWriteItem, 200 SendMessageBatch). A request with a blob, or in another protocol, still goes
    through moto (tests/integration/test_moto_patches.py compares both paths). A body the IAM check
    already decoded is not decoded again (json_params).
    """
    from moto.core.request import determine_request_protocol
    from moto.core.responses import BaseResponse
    from moto.core.utils import get_service_model

    original = BaseResponse.parse_parameters

    def parse_parameters(self: BaseResponse, request: Any) -> None:
        plain = _PLAIN_REQUESTS.get(self.boto3_service_name)
        body = request.data
        if (
            plain is None
            or self._get_action() not in plain
            or not isinstance(body, bytes)
            or _BLOB_MEMBERS.search(body)
            or determine_request_protocol(get_service_model(self.boto3_service_name), request.content_type) != "json"
        ):
            original(self, request)
            return
        self.params = json_params(body, getattr(request, "environ", {}))

    BaseResponse.parse_parameters = parse_parameters  # type: ignore[method-assign]
    BaseResponse.parse_parameters_through_moto = original  # type: ignore[attr-defined]  # for the comparison test


# Attribute types whose value moto stores as a plain Python value (no nested DynamoType to convert).
_SCALAR_TYPES = frozenset({"S", "N", "BOOL", "NULL"})


@once
def quick_top_level_projections() -> None:
    """Project an item onto top-level scalar attributes by picking them, not by converting the whole item.

    moto's `Item.project` converts the entire item to plain JSON once per projected path, then back: a
    query on an index (which projects twice: the index's attributes, then the ProjectionExpression) cost
    0.5 ms per item. A broadcast's progress reads 2,000-10,000 ledger records that way, and the progress
    read took 1.2 s idle and over 10 s beside a drain (CI). Paths that are nested, indexed, or reach a
    list, map, set or binary attribute still go through moto (tests/integration/test_moto_patches.py
    compares both paths).
    """
    from moto.dynamodb.models.dynamo_type import Item

    original = Item.project

    def project(self: Item, projection_expressions: list[list[str]]) -> Item:
        picked: dict[str, Any] = {}
        for path in projection_expressions:
            if len(path) != 1 or "[" in path[0]:
                return original(self, projection_expressions)
            value = self.attrs.get(path[0])
            if value is None:
                continue
            if value.type not in _SCALAR_TYPES:
                return original(self, projection_expressions)
            picked[path[0]] = {value.type: value.value}
        return Item(hash_key=self.hash_key, range_key=self.range_key, attrs=picked)

    Item.project = project  # type: ignore[method-assign]
    Item.project_through_moto = original  # type: ignore[attr-defined]  # kept for the comparison test


ALL_PATCHES: tuple[Callable[[], None], ...] = (
    untracked_model_instances,
    plain_json_requests,
    plain_dynamodb_answers,
    plain_sqs_receive_answers,
    plain_sqs_write_answers,
    serialize_receives,
    cheap_retention_check,
    cheap_content_dedup_check,
    incremental_item_size,
    unconditional_puts_skip_conditions,
    cache_condition_lexing,
    cache_condition_parsing,
    cache_update_expression_checks,
    simple_set_updates,
    quick_sqs_scans,
    quick_top_level_projections,
    cached_service_dispatch,
    direct_action_lookup,
    emulate_message_move_task,
    one_backup_per_transaction,
    atomic_dynamodb_writes,  # wraps every write method, also those of patches applied after it
)
