pub mod bench;
pub mod demo;
pub mod infer;
pub mod inspect;
pub mod split;
pub mod verify;
pub mod zoo;
