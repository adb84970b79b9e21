"""`python -m tfdl.speed`: time this machine's CPU settings once (see `tfdl.speed`).

With arguments (REGISTRY NETWORK SHAPE CLASSES BATCH MICRO): one `tfdl.speed.probe` in
this process, its examples/sec printed (what `choose_microbatches` runs per candidate).
"""

import sys

from tfdl import speed


def main(argv):
    """Times the settings for the digits' `batchnorm` net (batch 32) again, caches and
    prints them; or, with arguments, one probe."""
    if argv:
        reg, net, shape, n_classes, batch, micro = argv
        print(speed.probe(reg, net, tuple(int(d) for d in shape.split(",")),
                          int(n_classes), int(batch), int(micro)))
        return
    speed.forget("batchnorm", 32)
    speed.choose_microbatches("tfdl.digits.model:MODELS", "batchnorm", (8000,), 10, 32,
                              speed.MIN_STEPS)


if __name__ == "__main__":
    main(sys.argv[1:])
