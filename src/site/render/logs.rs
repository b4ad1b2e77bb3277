//! A log of a bundle as a text page (escaped; at most `LOG_PAGE_BYTES` of it, the page says when
//! the rest stays in the bundle).

use maud::html;

use crate::site::inputs::Unique;
use crate::site::load::LogRef;

pub fn page(input: &Unique, log: &LogRef, shown: &[u8]) -> String {
    let id = &input.sha256[..16];
    let body = html! {
        p.crumbs { a href={ "../" (id) ".html" } { "bundle " (input.name) } " › " (log.path) }
        h1 { (log.path) }
        p {
            (log.size) " bytes"
            @if log.truncated {
                " — showing the first " (shown.len()) " bytes; the whole file is "
                code { (log.path) } " in the bundle (sha256 " code { (input.sha256) } ")."
            }
        }
        pre.log { (super::display_text(shown)) }
    };
    super::page("../../", &log.path, body)
}
