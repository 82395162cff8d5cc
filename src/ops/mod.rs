pub mod zrepl;
