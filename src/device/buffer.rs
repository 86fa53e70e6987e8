//! A pooled device buffer: returned to its device's pool when the last tensor using it drops.

use super::Device;
use crate::backend::Storage;
use crate::error::{Error, Result};

pub(crate) struct Buffer {
    storage: Option<Storage>,
    class: u64,
    pub device: Device,
}

/// Index arithmetic in kernels is 32-bit signed.
const MAX_ELEMENTS: usize = i32::MAX as usize;

impl Buffer {
    pub fn new(device: &Device, words: usize) -> Result<Buffer> {
        if words > MAX_ELEMENTS {
            return Err(Error::invalid(
                "allocate",
                format!("{words} elements is more than the {MAX_ELEMENTS} a tensor may hold"),
            ));
        }
        let inner = &device.0;
        let bytes = (words.max(1) * 4) as u64;
        let (storage, class) = inner.pool.acquire(&inner.name, bytes, |class| {
            inner.backend.create_storage(&inner.name, class)
        })?;
        Ok(Buffer {
            storage: Some(storage),
            class,
            device: device.clone(),
        })
    }

    pub fn storage(&self) -> &Storage {
        self.storage
            .as_ref()
            .expect("storage is present until drop")
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        if let Some(s) = self.storage.take() {
            self.device.0.pool.release(s, self.class);
        }
    }
}
