"""A NumPy-only MLP with hand-written backpropagation (no TensorFlow).

The network of the reference (784-100 sigmoid-50 ReLU-10 softmax,
cross-entropy, mini-batch SGD without momentum), in float64. Its weights use
Keras' `Dense` layout (kernel [in, out], bias [out]), so `keras_twin` builds
the same network in Keras and `to_keras`/`from_keras` copy weights either way:
both start from identical weights and their loss curves can be compared.

Shapes: inputs x [n, 784] floats (pixels / 255), labels y int [n].
"""

import numpy as np

SIZES = (784, 100, 50, 10)
ACTIVATIONS = ("sigmoid", "relu", "softmax")


def sigmoid(z):
    # Split by sign so exp never overflows.
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def relu(z):
    return np.maximum(z, 0.0)


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


_ACT = {"sigmoid": sigmoid, "relu": relu, "softmax": softmax}


def _act_grad(name, a):
    """Derivative of the activation expressed through its output `a`."""
    if name == "sigmoid":
        return a * (1.0 - a)
    if name == "relu":
        return (a > 0).astype(a.dtype)
    raise ValueError(f"no elementwise derivative for {name!r}")


def cross_entropy(probs, y):
    """Mean categorical cross-entropy of probabilities [n, k] against int labels [n]."""
    p = np.clip(probs[np.arange(len(y)), y], 1e-12, 1.0)
    return float(-np.mean(np.log(p)))


class NumpyMLP:
    """Fully connected softmax classifier trained by hand-written backprop.

    Args:
        sizes: layer widths, input first (default 784-100-50-10).
        activations: one per layer after the input; the last must be "softmax".
        seed: seed of the Glorot-uniform initial kernels (biases start at 0,
            as in Keras `Dense`).
        dtype: float64 by default (the gradient check needs it).
    """

    def __init__(self, sizes=SIZES, activations=ACTIVATIONS, seed=0, dtype=np.float64):
        if len(activations) != len(sizes) - 1 or activations[-1] != "softmax":
            raise ValueError(f"activations must have one entry per layer, ending in softmax. "
                             f"Received: sizes={sizes}, activations={activations}")
        self.sizes, self.activations, self.dtype = tuple(sizes), tuple(activations), dtype
        rng = np.random.default_rng(seed)
        self.weights, self.biases = [], []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            limit = np.sqrt(6.0 / (n_in + n_out))
            self.weights.append(rng.uniform(-limit, limit, (n_in, n_out)).astype(dtype))
            self.biases.append(np.zeros(n_out, dtype))

    def forward(self, x):
        """All layer outputs: [x, h1, ..., probabilities]."""
        a = [np.asarray(x, self.dtype)]
        for w, b, act in zip(self.weights, self.biases, self.activations):
            a.append(_ACT[act](a[-1] @ w + b))
        return a

    def predict(self, x):
        return self.forward(x)[-1]

    def loss(self, x, y):
        return cross_entropy(self.predict(x), np.asarray(y))

    def gradients(self, x, y):
        """Backpropagation: (loss, [dL/dW per layer], [dL/db per layer]) for the batch mean."""
        y = np.asarray(y)
        a = self.forward(x)
        n = len(y)
        # Softmax + cross-entropy: dL/dz = (p - onehot) / n.
        delta = a[-1].copy()
        delta[np.arange(n), y] -= 1.0
        delta /= n
        gw = [None] * len(self.weights)
        gb = [None] * len(self.weights)
        for i in range(len(self.weights) - 1, -1, -1):
            gw[i] = a[i].T @ delta
            gb[i] = delta.sum(axis=0)
            if i:
                delta = (delta @ self.weights[i].T) * _act_grad(self.activations[i - 1], a[i])
        return cross_entropy(a[-1], y), gw, gb

    def sgd_step(self, x, y, learning_rate):
        """One plain SGD update on a batch; returns the batch loss before the update."""
        loss, gw, gb = self.gradients(x, y)
        for i in range(len(self.weights)):
            self.weights[i] -= learning_rate * gw[i]
            self.biases[i] -= learning_rate * gb[i]
        return loss

    def fit(self, x, y, epochs, batch_size, learning_rate, x_val=None, y_val=None):
        """Mini-batch SGD in data order (no shuffling, so Keras can follow the same path).

        Returns:
            dict of per-epoch lists: "loss" (mean batch loss during the epoch,
            weighted by batch size, as Keras reports it), "accuracy" (on the
            training set after the epoch) and, with validation data,
            "val_loss", "val_accuracy".
        """
        x = np.asarray(x, self.dtype)
        y = np.asarray(y)
        hist = {"loss": [], "accuracy": []}
        if x_val is not None:
            hist.update(val_loss=[], val_accuracy=[])
        for _ in range(epochs):
            total = 0.0
            for j in range(0, len(x), batch_size):
                xb, yb = x[j:j + batch_size], y[j:j + batch_size]
                total += self.sgd_step(xb, yb, learning_rate) * len(yb)
            hist["loss"].append(total / len(x))
            hist["accuracy"].append(self.accuracy(x, y))
            if x_val is not None:
                hist["val_loss"].append(self.loss(x_val, y_val))
                hist["val_accuracy"].append(self.accuracy(x_val, y_val))
        return hist

    def accuracy(self, x, y):
        return float(np.mean(self.predict(x).argmax(axis=1) == np.asarray(y)))

    def get_weights(self):
        """Keras order: [W1, b1, W2, b2, ...] (copies)."""
        out = []
        for w, b in zip(self.weights, self.biases):
            out += [w.copy(), b.copy()]
        return out

    def set_weights(self, weights):
        if len(weights) != 2 * len(self.weights):
            raise ValueError(f"expected {2 * len(self.weights)} arrays. Received: {len(weights)}")
        for i in range(len(self.weights)):
            w, b = np.asarray(weights[2 * i]), np.asarray(weights[2 * i + 1])
            if w.shape != self.weights[i].shape or b.shape != self.biases[i].shape:
                raise ValueError(f"layer {i} expects {self.weights[i].shape} and "
                                 f"{self.biases[i].shape}. Received: {w.shape} and {b.shape}")
            self.weights[i] = w.astype(self.dtype)
            self.biases[i] = b.astype(self.dtype)

    def keras_twin(self):
        """The same network as an (uncompiled) Keras model, holding these weights."""
        import keras  # Deferred: the NumPy model itself never needs TensorFlow.

        inputs = keras.Input((self.sizes[0],), name="pixels")
        x = inputs
        for i, (n, act) in enumerate(zip(self.sizes[1:], self.activations)):
            x = keras.layers.Dense(n, activation=act, name=f"dense_{i + 1}")(x)
        model = keras.Model(inputs, x, name="keras_twin")
        self.to_keras(model)
        return model

    def to_keras(self, model):
        model.set_weights([w.astype(np.float32) for w in self.get_weights()])

    def from_keras(self, model):
        self.set_weights(model.get_weights())


def gradient_check(model, x, y, eps=1e-5, per_layer=40, seed=0):
    """Compares backprop with central finite differences on random parameters.

    For each weight and bias array, `per_layer` random entries are perturbed
    by +-eps and (L(p+eps) - L(p-eps)) / 2 eps is compared with the analytic
    gradient.

    Returns:
        dict: `max_relative_error` (the largest, over arrays, of
        ||g_backprop - g_numeric|| / (||g_backprop|| + ||g_numeric||)) and
        `per_array` errors in Keras weight order.
    """
    rng = np.random.default_rng(seed)
    _, gw, gb = model.gradients(x, y)
    errors = []
    for params, grads in ((model.weights, gw), (model.biases, gb)):
        for p, g in zip(params, grads):
            flat, gflat = p.reshape(-1), g.reshape(-1)
            idx = rng.choice(flat.size, size=min(per_layer, flat.size), replace=False)
            num = np.empty(len(idx))
            for k, i in enumerate(idx):
                old = flat[i]
                flat[i] = old + eps
                plus = model.loss(x, y)
                flat[i] = old - eps
                minus = model.loss(x, y)
                flat[i] = old
                num[k] = (plus - minus) / (2 * eps)
            ana = gflat[idx]
            denom = np.linalg.norm(ana) + np.linalg.norm(num)
            errors.append(float(np.linalg.norm(ana - num) / denom) if denom else 0.0)
    n = len(model.weights)
    per_array = [v for pair in zip(errors[:n], errors[n:]) for v in pair]
    return {"max_relative_error": max(errors), "per_array": per_array}
