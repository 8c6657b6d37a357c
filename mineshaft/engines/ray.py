"""Run shard tasks on a Ray cluster: encoders as actors (one model per worker), k-NN as tasks
against an index broadcast once through Ray's object store."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from ..embed import embed_shard

if TYPE_CHECKING:
    from ..encoders import EncoderSpec
    from .base import EncodeJob


class RayEngine:
    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None, cpus_per_worker: float = 1.0,
                 gpus_per_worker: float | None = None):
        try:
            import ray
        except ImportError:
            raise UsageError("--engine ray needs Ray: pip install 'mineshaft[ray]'") from None
        self.ray = ray
        self._owns_ray = not ray.is_initialized()  # then close() shuts it down
        if self._owns_ray:
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     configure_logging=False, ignore_reinit_error=True)
        resources = ray.cluster_resources()
        total = int(resources.get("CPU", 1))
        gpus = float(resources.get("GPU", 0))
        # one GPU per encoder actor and per search task when the cluster has GPUs (Ray then sets
        # CUDA_VISIBLE_DEVICES, so device "auto" in the worker is that GPU)
        self.gpus_per_worker = (1.0 if gpus else 0.0) if gpus_per_worker is None else float(gpus_per_worker)
        self.cpus_per_worker = cpus_per_worker
        self.workers = workers or max(1, int(total // cpus_per_worker))
        if self.gpus_per_worker and not workers:
            self.workers = max(1, min(self.workers, int(gpus // self.gpus_per_worker)))

    def encode(self, spec: EncoderSpec, jobs: Iterable[EncodeJob], encoder=None) -> Iterator[tuple[int, Any]]:
        ray = self.ray
        from ray.util import ActorPool

        @ray.remote(num_cpus=self.cpus_per_worker, num_gpus=self.gpus_per_worker)
        class EncoderActor:
            def __init__(self, spec: EncoderSpec):
                self.spec, self.encoder = spec, spec.load()

            def run(self, job: EncodeJob):
                return job.shard, embed_shard(self.encoder, job.texts, self.spec)

        pool = ActorPool([EncoderActor.remote(spec) for _ in range(self.workers)])
        yield from pool.map_unordered(lambda actor, job: actor.run.remote(job), jobs)

    def search(self, searcher, jobs: Iterable[tuple[int, Any]], k: int) -> Iterator[tuple[int, Any]]:
        ray = self.ray
        if not searcher.in_memory:
            raise UsageError("--engine ray needs the search index to fit in --memory (raise it, or use an approximate --index)")
        shared = ray.put(searcher)  # broadcast once; every task reads the same object

        @ray.remote(num_cpus=self.cpus_per_worker, num_gpus=self.gpus_per_worker)
        def run(searcher, shard, queries, k):
            return shard, searcher.search(queries, k)

        pending = [run.remote(shared, shard, queries, k) for shard, queries in jobs]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])

    def close(self) -> None:
        """Shut Ray down if this engine started it."""
        if self._owns_ray and self.ray.is_initialized():
            self.ray.shutdown()

    def __enter__(self) -> RayEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
