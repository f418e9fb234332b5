//! The text/plain part: the content as paragraphs, each link as `label: URL`.

use super::layout::{Block, Card, Layout, Link, Media};
use super::{Brand, Unsubscribe};

/// The text part for `layout`, ending with the shop's name and the unsubscribe link.
pub(super) fn write_text(
    layout: &Layout,
    brand: &Brand,
    unsubscribe: Option<&Unsubscribe>,
) -> String {
    let mut sections: Vec<String> = layout.blocks.iter().map(block_text).collect();
    sections.push(links_text(&layout.links));
    sections.retain(|section| !section.is_empty());

    let mut text = sections.join("\n\n");
    // "-- " on its own line is the signature separator mail clients recognise.
    text.push_str("\n\n-- \n");
    text.push_str(brand.shop_name.trim());
    if let Some(unsubscribe) = unsubscribe {
        text.push_str(&format!("\n{}: {}", unsubscribe.label(), unsubscribe.url()));
    }
    text.push('\n');
    text
}

fn block_text(block: &Block) -> String {
    match block {
        Block::Text(text) => text.trim().to_string(),
        Block::Card(card) => card_text(card),
        Block::Carousel(cards) => {
            let cards: Vec<String> = cards.iter().map(card_text).collect();
            cards.join("\n\n")
        }
        Block::Media(media) => media_text(media).unwrap_or_default(),
    }
}

/// Title, description, the file when it is not just a picture, then the links.
fn card_text(card: &Card) -> String {
    let lines = [
        card.title.as_deref().map(str::trim).map(str::to_string),
        card.description
            .as_deref()
            .map(str::trim)
            .map(str::to_string),
        card.media.as_ref().and_then(media_text),
    ];
    let mut lines: Vec<String> = lines.into_iter().flatten().collect();
    lines.push(links_text(&card.links));
    lines.retain(|line| !line.is_empty());
    lines.join("\n")
}

/// A picture says nothing in text; a file, or the video behind a thumbnail, is a link.
fn media_text(media: &Media) -> Option<String> {
    match media {
        Media::Image { href: None, .. } => None,
        Media::Image {
            href: Some(href), ..
        } => Some(href.clone()),
        Media::File(link) => Some(link_line(link)),
    }
}

fn links_text(links: &[Link]) -> String {
    let lines: Vec<String> = links.iter().map(link_line).collect();
    lines.join("\n")
}

fn link_line(link: &Link) -> String {
    format!("{}: {}", link.label.trim(), link.href)
}
