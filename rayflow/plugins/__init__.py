"""``rayflow.plugins``: the module paths of Metaflow's ``metaflow.plugins`` that user code imports
exception classes from (``catch_decorator``, ``timeout_decorator``); the decorators themselves
are rayflow's (``rayflow.scheduler.decorators``)."""
