//! source-oekobaudat
