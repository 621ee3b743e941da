//! Black-box DICOMweb conformance checks, runnable against any base URL.
