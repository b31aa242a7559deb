"""When a user is deleted, cancel every order of theirs that is still placed (reason
"user deleted"), through the bus, so each cancellation is an OrderCancelled event like any other.

The placed orders are read from the ``orders`` write table in the unit of work that cancels
them, which holds the write lock: none can be shipped or cancelled in between, so no
cancellation is refused. An order shipped or cancelled before the manager runs (even long
after the user went, if it was down) is left as it is.
"""

from app.bus import UnitOfWork, execute
from app.eventlog import Recorded
from app.messages.orders import USER_DELETED, CancelOrder
from app.messages.users import UserDeleted
from app.process_manager import ProcessManager


def on_user_deleted(uow: UnitOfWork, e: Recorded) -> None:
    placed = uow.all(
        "SELECT id FROM orders WHERE user_id = :user_id AND status = 'placed' ORDER BY placed_at, id",
        user_id=e.stream_id,
    )
    for (order_id,) in placed:
        execute(CancelOrder(order_id=order_id, reason=USER_DELETED))


process_manager = ProcessManager("cancel_orders_of_deleted_users", reactions={UserDeleted: on_user_deleted})
