"""Memory per conversation: many conversations in progress at once, each at its own question."""

from __future__ import annotations

import gc
import random
import tempfile
import tracemalloc
from pathlib import Path

from bot.actions import Answer, Done, Toggle
from bot.coach import Coach
from bot.store import Store

from .common import Row

GOAL_BYTES = 1024
CONVERSATIONS = {"full": 10_000, "quick": 1000, "tiny": 50}


def _advance(coach: Coach, user_id: int, steps: int, rng: random.Random) -> None:
    """Answer `steps` questions for one user with random valid answers."""
    coach.start(user_id, "it")
    for _ in range(steps):
        state, _ = coach.load(user_id)
        q = coach.engine.question(state)
        if q is None:
            return
        if q.kind == "single":
            coach.act(user_id, Answer(rng.choice(q.options).id))
        elif q.kind == "multi":
            choice = rng.choice([o for o in q.options if not o.exclusive])
            coach.act(user_id, Toggle(choice.id))
            coach.act(user_id, Done())
        elif q.kind == "text":
            coach.text(user_id, f"Cliente {user_id}")
        else:
            coach.text(user_id, str(rng.randint(1, 9)))


def run(size: str) -> list[Row]:
    count = CONVERSATIONS[size]
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "memory.db"
        coach = Coach(Store.open(db_path))
        _advance(coach, 10**9, 3, rng)  # warm caches (templates, statements) before measuring
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        for user_id in range(1, count + 1):
            _advance(coach, user_id, user_id % 12, rng)
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
        open_conversations = coach.store.conn.execute("SELECT COUNT(*) FROM conversations").fetchone()[0]
        coach.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db_bytes = db_path.stat().st_size
        coach.store.close()
    per_conversation = grown / count
    return [
        Row("memory", "conversations in progress", open_conversations, ""),
        Row(
            "memory",
            "Python heap growth per conversation (tracemalloc)",
            per_conversation,
            "B",
            f"≤ {GOAL_BYTES} B",
            per_conversation <= GOAL_BYTES,
            {"count": count, "total_bytes": grown},
        ),
        Row("memory", "database size per conversation", db_bytes / count, "B", "", None, {"db_bytes": db_bytes}),
    ]
