"""Pipeline steps that pass artifacts: the implementation of :mod:`clinops_async.handler`."""
