from shared.actions.service import ChunkDeadline


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_chunks_start_while_the_slowest_one_still_fits():
    clock = Clock()
    deadline = ChunkDeadline(100, clock=clock)
    started = 0
    for took in (8.4, 9.0, 8.0, 8.4, 8.4, 8.4, 8.4, 8.4, 8.4, 8.4, 8.4, 8.4, 8.4):
        if not deadline.may_start_chunk():
            break
        started += 1
        clock.now += took
    # 11 chunks have taken 92.6 s; a 12th could take 9.0 s like the slowest and end past 100 s.
    assert started == 11 and deadline.slowest == 9.0
    assert not deadline.may_start_chunk()


def test_the_first_chunk_always_starts_and_a_fast_run_is_never_cut():
    clock = Clock()
    deadline = ChunkDeadline(10, clock=clock)
    for _ in range(1000):
        assert deadline.may_start_chunk()
        clock.now += 0.001
