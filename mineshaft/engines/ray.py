"""Run shard tasks on a Ray cluster: encoders as actors (one model per worker), k-NN as tasks
against an index broadcast once through Ray's object store."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import UsageError
from ..tasks import EncodeJob, EncoderSpec, encode_job, search_job


class RayEngine:
    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None, cpus_per_worker: float = 1.0):
        try:
            import ray
        except ImportError:
            raise UsageError("--engine ray needs Ray: pip install 'mineshaft[ray]'") from None
        self.ray = ray
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     configure_logging=False, ignore_reinit_error=True)
        total = int(ray.cluster_resources().get("CPU", 1))
        self.cpus_per_worker = cpus_per_worker
        self.workers = workers or max(1, int(total // cpus_per_worker))

    def encode(self, spec: EncoderSpec, jobs: Iterable[EncodeJob], encoder=None) -> Iterator[tuple[int, Any]]:
        ray = self.ray
        from ray.util import ActorPool

        @ray.remote(num_cpus=self.cpus_per_worker)
        class EncoderActor:
            def __init__(self, spec: EncoderSpec):
                self.spec, self.encoder = spec, spec.load()

            def run(self, job: EncodeJob):
                return job.shard, encode_job(self.encoder, job, self.spec)

        pool = ActorPool([EncoderActor.remote(spec) for _ in range(self.workers)])
        yield from pool.map_unordered(lambda actor, job: actor.run.remote(job), jobs)

    def search(self, searcher, jobs: Iterable[tuple[int, Any]], k: int) -> Iterator[tuple[int, Any]]:
        ray = self.ray
        if not searcher.in_memory:
            raise UsageError("--engine ray needs the search index to fit in --memory (raise it, or use an approximate --index)")
        shared = ray.put(searcher)  # broadcast once; every task reads the same object

        @ray.remote(num_cpus=self.cpus_per_worker)
        def run(searcher, shard, queries, k):
            return shard, search_job(searcher, queries, k)

        pending = [run.remote(shared, shard, queries, k) for shard, queries in jobs]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])

    def close(self) -> None:
        pass
