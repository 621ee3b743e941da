//! DICOMweb protocol (PS3.18) without I/O: routes, identifiers, Accept negotiation, media
//! types and transfer syntaxes, multipart/related. Filled in by the frame-retrieval work.
