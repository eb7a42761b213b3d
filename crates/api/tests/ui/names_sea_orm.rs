// Code with the api crate's dependencies cannot reach sea-orm or sqlx.
use sea_orm::EntityTrait;
use sqlx::query;

fn main() {}
