"""Training students: pair data and dev split, batches, teacher targets, the trainer, checkpoints, model cards,
vocabulary extension and weight interpolation (``mineshaft train``, ``init-student``, ``extend-vocab``,
``interpolate``). Nothing is imported here: ``import mineshaft.training.config`` stays free of torch."""
