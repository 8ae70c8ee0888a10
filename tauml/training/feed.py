"""The DataLoader as Keras input: tf.data on the TensorFlow backend, a keras.utils.PyDataset otherwise.

The loader builds batches in its own background threads; the adapter hands them to ``fit`` without copies
beyond the one into the framework: ``tf.data`` prefetches on its own thread (``from_generator`` with the
exact signature, so sparse batches of any size pass), the PyDataset is read in order. Epoch ``i`` of the
fit is epoch ``i`` of the loader (its shuffle), so a resumed training sees the batches it would have seen.
"""
from __future__ import annotations

import time
from collections.abc import Iterator, Mapping

import keras


class EpochFeed:
    """``(x, y[, w])`` batches of one loader epoch at a time; ``fixed_epoch`` pins validation to one epoch."""

    def __init__(self, loader, n_batches: int, weights: bool, fixed_epoch: int | None = None):
        self.loader, self.n_batches, self.weights = loader, int(n_batches), weights
        self.fixed_epoch = fixed_epoch
        self.epoch = fixed_epoch or 0
        self.wait_s = 0.0  # time spent waiting for the loader (benchmarks)
        self.batches = 0
        self.error: BaseException | None = None  # what stopped the loader (fit reports it wrapped)

    def set_epoch(self, epoch: int) -> None:
        if self.fixed_epoch is None:
            self.epoch = int(epoch)

    def __iter__(self) -> Iterator[tuple]:
        start = time.perf_counter()
        try:
            for x, y, w in self.loader.epoch(self.epoch):
                self.wait_s += time.perf_counter() - start
                self.batches += 1
                yield (x, y, w) if self.weights else (x, y)
                start = time.perf_counter()
        except Exception as err:
            self.error = err
            raise


def input_signature(shapes: Mapping[str, tuple], sparse: bool) -> dict:
    """{name: tf.TensorSpec} of a batch's x, in the loader's key order."""
    import tensorflow as tf

    specs = {}
    for name, shape in shapes.items():
        if sparse and len(shape) == 3:
            specs[name] = tf.TensorSpec((None, shape[-1]), tf.float32, name=name)
        else:
            specs[name] = tf.TensorSpec((None, *shape), tf.float32, name=name)
    if sparse:
        for location in sorted({name.split("_")[1] for name, shape in shapes.items() if len(shape) == 3}):
            specs[f"{location}_cells_index"] = tf.TensorSpec((None, 3), tf.int32, name=f"{location}_cells_index")
    return specs


class FeedDataset(keras.utils.PyDataset):
    """The feed as a PyDataset (JAX and torch backends): read strictly in order, one epoch per pass."""

    def __init__(self, feed: EpochFeed):
        super().__init__(workers=1, use_multiprocessing=False)
        self.feed = feed
        self._iterator = None
        self._next = 0

    @property
    def num_batches(self) -> int:
        return self.feed.n_batches

    def __getitem__(self, index: int):
        if index == 0 or self._iterator is None:
            self._iterator, self._next = iter(self.feed), 0
        if index != self._next:
            raise IndexError(f"batches are read in order: asked for {index}, next is {self._next}")
        self._next += 1
        return next(self._iterator)

    def on_epoch_end(self):
        self._iterator = None


def keras_data(feed: EpochFeed, shapes: Mapping[str, tuple], sparse: bool, n_outputs: int = 4):
    """What ``model.fit`` takes: a prefetched tf.data.Dataset (TensorFlow backend) or a PyDataset."""
    if keras.backend.backend() != "tensorflow":
        return FeedDataset(feed)
    import tensorflow as tf

    signature = (input_signature(shapes, sparse), tf.TensorSpec((None, n_outputs), tf.float32))
    if feed.weights:
        signature += (tf.TensorSpec((None,), tf.float32),)
    dataset = tf.data.Dataset.from_generator(lambda: iter(feed), output_signature=signature)
    if feed.n_batches:  # the loader yields exactly n_batches: Keras knows the epoch length
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(feed.n_batches))
    return dataset.prefetch(tf.data.AUTOTUNE)


class FeedEpochs(keras.callbacks.Callback):
    """Tells the feeds which epoch starts (the loader shuffles by epoch)."""

    def __init__(self, *feeds: EpochFeed):
        super().__init__()
        self.feeds = feeds

    def on_epoch_begin(self, epoch, logs=None):
        for feed in self.feeds:
            feed.set_epoch(epoch)

