"""A name -> builder registry."""


class Registry:
    """Maps model names to builder functions for one task.

    Example:
        MODELS = Registry("digits")

        @MODELS.register("plain")
        def plain(num_classes=10): ...

        model = MODELS.build("plain", num_classes=10)
    """

    def __init__(self, task):
        self.task = task
        self._builders = {}

    def register(self, name):
        def deco(fn):
            if name in self._builders:
                raise ValueError(f"{self.task} model {name!r} is registered twice")
            self._builders[name] = fn
            return fn

        return deco

    def names(self):
        return sorted(self._builders)

    def get(self, name):
        if name not in self._builders:
            raise ValueError(f"unknown {self.task} model {name!r}; choose one of "
                             f"{', '.join(self.names())}. Received: model={name!r}")
        return self._builders[name]

    def build(self, name, **kwargs):
        return self.get(name)(**kwargs)

    def __contains__(self, name):
        return name in self._builders

    def __iter__(self):
        return iter(self.names())
