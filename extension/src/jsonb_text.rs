// SPDX-License-Identifier: BUSL-1.1
//! A `jsonb` argument received as its text form. pgrx's `JsonB` parses the text itself and
//! panics (SQLSTATE XX000) when serde_json refuses it, e.g. a number such as 1e400 that jsonb
//! keeps exactly but an f64 cannot hold; with the text, the caller reports a 22023 instead.

use core::ffi::CStr;

use pgrx::callconv::{Arg, ArgAbi};
use pgrx::nullable::Nullable;
use pgrx::{direct_function_call, pg_sys, FromDatum};

use crate::error::{SqlError, SqlResult};

pub struct JsonbText(String);

impl JsonbText {
    /// The value as JSON, or a 22023 naming `argument`.
    pub fn parse(&self, argument: &str) -> SqlResult<serde_json::Value> {
        serde_json::from_str(&self.0).map_err(|e| {
            SqlError::invalid(format!("{argument}: {e}"))
                .hint("numbers must fit a double precision value")
        })
    }
}

impl FromDatum for JsonbText {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _: pg_sys::Oid,
    ) -> Option<Self> {
        if is_null {
            return None;
        }
        // SAFETY: the SQL signature says jsonb, so the datum is a (possibly toasted) jsonb.
        unsafe {
            let detoasted = pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr());
            let text = direct_function_call::<&CStr>(pg_sys::jsonb_out, &[Some(detoasted.into())])?;
            Some(JsonbText(text.to_string_lossy().into_owned()))
        }
    }
}

// SAFETY: mirrors pgrx's own impls for types read through FromDatum.
unsafe impl<'fcx> ArgAbi<'fcx> for JsonbText {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        let index = arg.index();
        unsafe { arg.unbox_arg_using_from_datum() }
            .unwrap_or_else(|| panic!("argument {index} must not be null"))
    }

    unsafe fn unbox_nullable_arg(arg: Arg<'_, 'fcx>) -> Nullable<Self> {
        unsafe { arg.unbox_arg_using_from_datum() }.into()
    }
}

pgrx::impl_sql_translatable!(JsonbText, arg_only = "jsonb");
