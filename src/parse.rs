//! Alert parser (being written).
