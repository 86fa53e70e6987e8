//! Datasets whose source is a stream of byte records (TFRecord files). wgflow has no string
//! dtype, so a record cannot travel through the pipeline as an element; instead the
//! function that parses it into tensors runs as the pipeline's first `map` — on worker
//! threads when asked — exactly where TensorFlow's `TFRecordDataset(...).map(parse)` runs it.

use super::{Cardinality, Dataset, Parallelism, Stream, Structure, at_element};
use crate::error::Result;
use std::sync::Arc;

type Records = Box<dyn Iterator<Item = Result<Vec<u8>>> + Send>;

impl<T: Structure> Dataset<T> {
    /// Elements `parse(record)` for the records `source()` yields on each pass, with `parse`
    /// on `num_parallel_calls` threads and the output in record order. A source error is
    /// an error item (the source decides whether it goes on); a `parse` error is an error
    /// item naming the record's index.
    pub(crate) fn from_records<S, F>(source: S, parse: F, num_parallel_calls: Parallelism) -> Self
    where
        S: Fn() -> Records + Send + Sync + 'static,
        F: Fn(Vec<u8>) -> Result<T> + Send + Sync + 'static,
    {
        let parse: Arc<dyn Fn(Vec<u8>) -> Result<T> + Send + Sync> = Arc::new(parse);
        let workers = match num_parallel_calls {
            Parallelism::Fixed(n) => n,
            Parallelism::Autotune => std::thread::available_parallelism().map_or(2, |n| n.get()),
        };
        #[cfg(target_arch = "wasm32")]
        let _ = workers; // no threads in the browser
        Dataset::new(Cardinality::Unknown, move || -> Result<Stream<T>> {
            let records = source();
            #[cfg(not(target_arch = "wasm32"))]
            if workers > 1 {
                let it = super::parallel::ParallelMap::new(
                    Box::new(records),
                    parse.clone(),
                    workers,
                    true,
                )?;
                return Ok(Box::new(it));
            }
            let parse = parse.clone();
            Ok(Box::new(records.enumerate().map(move |(i, r)| {
                r.and_then(|bytes| parse(bytes).map_err(|e| at_element(e, "Dataset.map", i)))
            })))
        })
    }
}
