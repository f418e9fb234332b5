//! The shop's message templates, shared by the dispatcher and the template API.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use domain::template::Templates;
use domain::Locale;
use store::Store;

/// The built-in templates with the shop's saved overrides on top, shared by every
/// task that renders or edits them.
#[derive(Clone)]
pub struct SharedTemplates {
    inner: Arc<RwLock<Templates>>,
}

impl SharedTemplates {
    /// The built-in templates overlaid by those saved in `store`. A saved template that no
    /// longer compiles (one written for an older version) is logged and the built-in
    /// one is used in its place, so that messages keep going out.
    ///
    /// # Errors
    /// When the saved templates cannot be read.
    pub async fn load(store: &Store, default_locale: &str) -> store::Result<SharedTemplates> {
        let locale = Locale::parse(default_locale).unwrap_or_else(|_| english());
        let mut templates = Templates::builtin(&locale);
        for error in templates.overlay(store.list_templates().await?) {
            tracing::warn!(
                error.message = %error,
                "a saved template does not compile; the built-in one is used instead"
            );
        }
        Ok(SharedTemplates {
            inner: Arc::new(RwLock::new(templates)),
        })
    }

    /// Reads the set. Renders are short and never wait while holding it.
    pub fn read(&self) -> RwLockReadGuard<'_, Templates> {
        // A panic while holding the lock cannot leave a half-made change: every change
        // to the set is made whole or not at all.
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the set.
    pub fn write(&self) -> RwLockWriteGuard<'_, Templates> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}

fn english() -> Locale {
    Locale::parse("en").expect("`en` is a language tag")
}
