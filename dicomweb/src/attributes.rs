//! The attributes QIDO-RS answers carry by default at each level (by keyword), which are
//! also the ones viewers search on.

/// Attributes every study answer carries (PS3.18 Table 10.6.3-3, and what OHIF's study list
/// shows).
pub const STUDY_DEFAULTS: &[&str] = &[
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "ModalitiesInStudy",
    "ReferringPhysicianName",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyID",
    "StudyDescription",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
];

/// Attributes every series answer carries (PS3.18 Table 10.6.3-4).
pub const SERIES_DEFAULTS: &[&str] = &[
    "Modality",
    "SeriesDescription",
    "SeriesInstanceUID",
    "SeriesNumber",
    "SeriesDate",
    "SeriesTime",
    "BodyPartExamined",
    "StudyInstanceUID",
    "NumberOfSeriesRelatedInstances",
];

/// Attributes every instance answer carries (PS3.18 Table 10.6.3-5, plus what viewers sort
/// and size by).
pub const INSTANCE_DEFAULTS: &[&str] = &[
    "SOPClassUID",
    "SOPInstanceUID",
    "InstanceNumber",
    "Rows",
    "Columns",
    "BitsAllocated",
    "NumberOfFrames",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "AvailableTransferSyntaxUID",
];
