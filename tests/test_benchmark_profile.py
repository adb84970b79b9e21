"""The digits benchmark's profile part: FLOP counts and the trace reader, against hand counts."""

import keras

from benchmarks.digits import profile


def test_training_flops_counts_products_by_hand():
    model = keras.Sequential([keras.Input((10, 2)),
                              keras.layers.Conv1D(3, 5),  # 6 positions x 5 x 2 x 3 = 180 MACs
                              keras.layers.ReLU(),
                              keras.layers.Flatten(),
                              keras.layers.Dense(4)])  # 18 x 4 = 72 MACs
    assert list(profile.layer_macs(model).values()) == [180, 72]
    # forward, input gradient, weight gradient; the first layer needs no input gradient
    assert profile.training_flops(model) == 2 * (3 * 252 - 180)


def test_conv2d_macs():
    model = keras.Sequential([keras.Input((13, 74, 1)), keras.layers.Conv2D(8, (2, 3))])
    assert profile.layer_macs(model) == {model.layers[0].name: 12 * 72 * 2 * 3 * 8}


def _space(events):
    """An XSpace with one host thread holding `events` = [(name, start_ps, duration_ps)]."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    plane = space.planes.add(name="/host:CPU")
    line = plane.lines.add(name="tf_Compute")
    for i, (name, start, duration) in enumerate(events, 1):
        plane.event_metadata[i].name = name
        line.events.add(metadata_id=i, offset_ps=start, duration_ps=duration)
    return space


def test_op_self_times_subtract_nested_ops(tmp_path):
    ms = 10 ** 9  # picoseconds
    space = _space([("loop/While:While", 0, 10 * ms),  # holds the two ops below
                    ("model/conv/Conv2D:Conv2D", 1 * ms, 4 * ms),
                    ("model/bn:_FusedBatchNormV3", 5 * ms, 2 * ms),
                    ("Iterator::Prefetch", 12 * ms, 1 * ms),
                    ("ExecutorState::Process", 0, 20 * ms),  # not an op: ignored
                    ("model/conv_1/Conv2D:Conv2D", 14 * ms, 3 * ms)])
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "host.xplane.pb").write_bytes(space.SerializeToString())
    assert profile.xplane_op_times(tmp_path) == {
        "While": 4.0, "Conv2D": 7.0, "FusedBatchNormV3": 2.0, "tf.data input pipeline": 1.0}
