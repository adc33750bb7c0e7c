"""DICOM PS3.15 Annex E, Table E.1-1: the Basic Application Level Confidentiality Profile.

The table below encodes, for every attribute the profile lists, its *Basic Profile* action, from
DICOM PS3.15 **2024b**, Table E.1-1 "Application Level Confidentiality Profile Attributes"
(https://dicom.nema.org/medical/dicom/2024b/output/chtml/part15/chapter_E.html#table_E.1-1).
We encoded it in our own format from the machine-readable extraction of that 2024b table in
Kitware's dicom-anonymizer (``dicomanonymizer/dicom_anonymization_databases/dicomfields_2024b.py``)
and spot-checked entries against innolitics' independent extraction
(``innolitics/dicom-standard``, ``standard/confidentiality_profile_attributes.json``, an earlier
edition: it has Patient ID as ``Z`` where 2024b has ``Z/D``; both are carried out alike here).

Action codes (PS3.15 E.1.1):

- ``D``: replace with a non-zero-length dummy value consistent with the VR;
- ``Z``: replace with a zero-length value, or a dummy value consistent with the VR;
- ``X``: remove;
- ``K``: keep (no attribute of the Basic Profile column has it; listed for completeness);
- ``C``: clean (only used by the options, not by the Basic Profile);
- ``U``: replace with a non-zero-length UID that is internally consistent within a set of
  instances;
- combined ``Z/D``, ``X/Z``, ``X/D``, ``X/Z/D``, ``X/Z/U*``: the first action unless the next is
  needed to keep the instance conformant with its IOD (``U*``: the UIDs inside the sequence are
  replaced).

Attributes matched by pattern rather than by tag: private attributes (odd groups), curve data
(groups ``50xx``, retired) and overlay data and comments (groups ``60xx``, ``3000`` and ``4000``)
are all ``X``.

Attributes the table does not list are removed too unless they are on this module's keep-list
(:data:`KEEP`): a keep-list, not a drop-list, so that an attribute unknown to the table (an
unknown even-group tag such as (0010,1234) holding free text, or one added to the standard
later) never passes by default. This module only holds the table and the keep-list;
:mod:`studies.dicom.deid` applies them.
"""

from __future__ import annotations

import re
from types import MappingProxyType

EDITION = "2024b"

# One line per attribute: "(gggg,eeee) Name", grouped by Basic Profile action.
_TABLE = {
    "D": """
(0018,11BB) Acquisition Field Of View Label
(006A,0005) Annotation Group Label
(006A,0003) Annotation Group UID
(0044,0104) Assertion DateTime
(0400,0562) Attribute Modification DateTime
(300C,0127) Beam Hold Transition DateTime
(0400,0115) Certificate of Signer
(0012,0081) Clinical Trial Protocol Ethics Committee Name
(0012,0020) Clinical Trial Protocol ID
(0012,0010) Clinical Trial Sponsor Name
(0012,0040) Clinical Trial Subject ID
(0012,0042) Clinical Trial Subject Reading ID
(0040,0512) Container Identifier
(0040,A730) Content Sequence
(0008,0107) Context Group Local Version
(0008,0106) Context Group Version
(0040,A121) Date
(0040,A120) DateTime
(0018,9701) Decay Correction DateTime
(2100,0140) Destination AE
(3010,002D) Device Label
(0400,0105) Digital Signature DateTime
(0068,6226) Effective DateTime
(0042,0011) Encapsulated Document
(3010,0035) Entity Label
(3010,0038) Entity Long Label
(0018,9804) Exclusion Start DateTime
(0034,0002) Flow Identifier
(0034,0001) Flow Identifier Sequence
(0018,9074) Frame Acquisition DateTime
(0034,0007) Frame Origin Timestamp
(0018,9151) Frame Reference DateTime
(0018,9623) Functional Sync Pulse
(0070,0001) Graphic Annotation Sequence
(0072,000A) Hanging Protocol Creation DateTime
(003A,0314) Impedance Measurement DateTime
(0068,6270) Information Issue DateTime
(300A,0741) Interlock DateTime
(300A,0742) Interlock Description
(300A,0783) Interlock Origin Description
(0400,0563) Modifying System
(300A,0760) Override DateTime
(0040,1101) Person Identification Code Sequence
(0040,A123) Person Name
(300A,0002) RT Plan Label
(3010,0054) RT Prescription Label
(300A,062A) RT Tolerance Set Label
(300A,0619) Radiation Dose Identification Label
(300A,0623) Radiation Dose In-Vivo Measurement Label
(300A,067C) Radiation Generation Mode Label
(0400,0565) Reason for the Attribute Modification
(300A,073A) Recorded RT Control Point DateTime
(0040,A13A) Referenced DateTime
(3008,0162) Safe Position Exit Date
(3008,0164) Safe Position Exit Time
(3008,0166) Safe Position Return Date
(3008,0168) Safe Position Return Time
(0072,005E) Selector AE Value
(0072,005F) Selector AS Value
(0072,0061) Selector DA Value
(0072,0063) Selector DT Value
(0072,0066) Selector LO Value
(0072,0068) Selector LT Value
(0072,0065) Selector OB Value
(0072,006A) Selector PN Value
(0072,006C) Selector SH Value
(0072,006E) Selector ST Value
(0072,006B) Selector TM Value
(0072,006D) Selector UN Value
(0072,0071) Selector UR Value
(0072,0070) Selector UT Value
(0018,936A) Source End DateTime
(0034,0005) Source Identifier
(0018,9369) Source Start DateTime
(300A,022C) Source Strength Reference Date
(300A,022E) Source Strength Reference Time
(0040,0551) Specimen Identifier
(3006,0002) Structure Set Label
(0040,A122) Time
(3008,0024) Treatment Control Point Date
(3008,0025) Treatment Control Point Time
(300A,0608) Treatment Position Group Label
(300A,0736) Treatment Tolerance Violation DateTime
(300A,0734) Treatment Tolerance Violation Description
(3010,0033) User Content Label
(3010,0034) User Content Long Label
(0040,A030) Verification DateTime
(0040,A075) Verifying Observer Name
(0040,A073) Verifying Observer Sequence
(0040,A027) Verifying Organization
(0018,9371) X-Ray Detector ID
(0018,9367) X-Ray Source ID
""",
    "Z": """
(0008,0050) Accession Number
(0018,1203) Calibration DateTime
(0012,0060) Clinical Trial Coordinating Center Name
(0012,0021) Clinical Trial Protocol Name
(0012,0030) Clinical Trial Site ID
(0012,0031) Clinical Trial Site Name
(0012,0050) Clinical Trial Time Point ID
(3010,000F) Conceptual Volume Combination Description
(3010,0017) Conceptual Volume Description
(0008,009C) Consulting Physician's Name
(3010,001B) Device Alternate Identifier
(0040,2017) Filler Order Number / Imaging Service Request
(3010,007F) Fractionation Notes
(0040,0513) Issuer of the Container Identifier Sequence
(0040,0562) Issuer of the Specimen Identifier Sequence
(3010,0043) Manufacturer's Device Identifier
(0040,A082) Participation DateTime
(0010,0030) Patient's Birth Date
(0010,0010) Patient's Name
(0010,0040) Patient's Sex
(0040,2016) Placer Order Number / Imaging Service Request
(3010,007B) Prescription Notes
(3010,0081) Prescription Notes Sequence
(3006,00A6) ROI Interpreter
(3006,0026) ROI Name
(300A,0615) RT Accessory Device Slot ID
(300A,0611) RT Accessory Holder Slot ID
(3010,005A) RT Physician Intent Narrative
(300A,067D) Radiation Generation Mode Description
(3010,005C) Reason for Superseding
(0008,0090) Referring Physician's Name
(300E,0004) Review Date
(300E,0005) Review Time
(0400,0564) Source of Previous Values
(0040,0610) Specimen Preparation Sequence
(3006,0008) Structure Set Date
(3006,0009) Structure Set Time
(0008,0020) Study Date
(0020,0010) Study ID
(0008,0030) Study Time
(3010,007A) Treatment Technique Notes
(0040,A088) Verifying Observer Identification Code Sequence
""",
    "X": """
(0018,4000) Acquisition Comments
(0018,9424) Acquisition Protocol Description
(0040,4035) Actual Human Performers Sequence
(0010,21B0) Additional Patient History
(0040,A353) Address (Trial)
(0038,0010) Admission ID
(0038,0020) Admitting Date
(0008,1084) Admitting Diagnoses Code Sequence
(0008,1080) Admitting Diagnoses Description
(0038,0021) Admitting Time
(0000,1000) Affected SOP Instance UID
(0010,2110) Allergies
(006A,0006) Annotation Group Description
(0044,0004) Approval Status DateTime
(4000,0010) Arbitrary
(0044,0105) Assertion Expiration DateTime
(0040,A078) Author Observer Sequence
(300A,00C3) Beam Description
(300A,00DD) Bolus Description
(0010,1081) Branch of Service
(0014,407E) Calibration Date
(0014,407C) Calibration Time
(0016,004D) Camera Owner Name
(0018,1007) Cassette ID
(0400,0310) Certified Timestamp
(0012,0082) Clinical Trial Protocol Ethics Committee Approval Number
(0012,0072) Clinical Trial Series Description
(0012,0071) Clinical Trial Series ID
(0012,0051) Clinical Trial Time Point Description
(0040,0310) Comments on Radiation Dose
(0040,0280) Comments on the Performed Procedure Step
(300A,02EB) Compensator Description
(0040,3001) Confidentiality Constraint on Patient Data Description
(0008,009D) Consulting Physician Identification Sequence
(0050,001B) Container Component ID
(0040,051A) Container Description
(0070,0086) Content Creator's Identification Code Sequence
(0018,1042) Contrast/Bolus Start Time
(0018,1043) Contrast/Bolus Stop Time
(0018,A002) Contribution DateTime
(0018,A003) Contribution Description
(0010,2150) Country of Residence
(2100,0040) Creation Date
(2100,0050) Creation Time
(0040,A307) Current Observer (Trial)
(0038,0300) Current Patient Location
(0008,0025) Curve Date
(0008,0035) Curve Time
(0040,A07C) Custodial Organization Sequence
(FFFC,FFFC) Data Set Trailing Padding
(0040,A110) Date of Document or Verbal Transaction (Trial)
(0018,1205) Date of Installation
(0018,1200) Date of Last Calibration
(0018,1204) Date of Manufacture
(0018,1012) Date of Secondary Capture
(0018,1202) DateTime of Last Calibration
(0018,937F) Decomposition Description
(0008,2111) Derivation Description
(0050,0020) Device Description
(0016,004B) Device Setting Description
(FFFA,FFFA) Digital Signatures Sequence
(0038,0030) Discharge Date
(0038,0040) Discharge Diagnosis Description
(0038,0032) Discharge Time
(300A,079A) Displacement Reference Label
(4008,011A) Distribution Address
(4008,0119) Distribution Name
(300A,0016) Dose Reference Description
(3010,0037) Entity Description
(3010,0036) Entity Name
(300A,0676) Equipment Frame of Reference Description
(0012,0087) Ethics Committee Approval Effectiveness End Date
(0012,0086) Ethics Committee Approval Effectiveness Start Date
(0010,2160) Ethnic Group
(0040,4011) Expected Completion DateTime
(003A,032B) Filter Lookup Table Description
(0040,A023) Findings Group Recording Date (Trial)
(0040,A024) Findings Group Recording Time (Trial)
(300A,0196) Fixation Device Description
(300A,0072) Fraction Group Description
(0020,9158) Frame Comments
(0016,0076) GPS Altitude
(0016,0075) GPS Altitude Ref
(0016,008C) GPS Area Information
(0016,007B) GPS DOP
(0016,008D) GPS Date Stamp
(0016,0088) GPS Dest Bearing
(0016,0087) GPS Dest Bearing Ref
(0016,008A) GPS Dest Distance
(0016,0089) GPS Dest Distance Ref
(0016,0084) GPS Dest Latitude
(0016,0083) GPS Dest Latitude Ref
(0016,0086) GPS Dest Longitude
(0016,0085) GPS Dest Longitude Ref
(0016,008E) GPS Differential
(0016,0081) GPS Img Direction
(0016,0080) GPS Img Direction Ref
(0016,0072) GPS Latitude
(0016,0071) GPS Latitude Ref
(0016,0074) GPS Longitude
(0016,0073) GPS Longitude Ref
(0016,0082) GPS Map Datum
(0016,007A) GPS Measure Mode
(0016,008B) GPS Processing Method
(0016,0078) GPS Satellites
(0016,007D) GPS Speed
(0016,007C) GPS Speed Ref
(0016,0079) GPS Status
(0016,0077) GPS Time Stamp
(0016,007F) GPS Track
(0016,007E) GPS Track Ref
(0016,0070) GPS Version ID
(0018,1008) Gantry ID
(0018,1005) Generator ID
(0040,E004) HL7 Document Effective Time
(0040,4037) Human Performer's Name
(0040,4036) Human Performer's Organization
(0088,0200) Icon Image Sequence
(0008,4000) Identifying Comments
(0020,4000) Image Comments
(0028,4000) Image Presentation Comments
(0040,2400) Imaging Service Request Comments
(4008,0300) Impressions
(0008,0015) Instance Coercion DateTime
(0400,0600) Instance Origin Status
(0008,0081) Institution Address
(0008,1040) Institutional Department Name
(0008,1041) Institutional Department Type Code Sequence
(0010,1050) Insurance Plan Identification
(3010,0085) Intended Fraction Start Time
(0040,1011) Intended Recipients of Results Identification Sequence
(4008,0112) Interpretation Approval Date
(4008,0113) Interpretation Approval Time
(4008,0111) Interpretation Approver Sequence
(4008,010C) Interpretation Author
(4008,0115) Interpretation Diagnosis Description
(4008,0200) Interpretation ID
(4008,0202) Interpretation ID Issuer
(4008,0100) Interpretation Recorded Date
(4008,0101) Interpretation Recorded Time
(4008,0102) Interpretation Recorder
(4008,010B) Interpretation Text
(4008,010A) Interpretation Transcriber
(4008,0108) Interpretation Transcription Date
(4008,0109) Interpretation Transcription Time
(0018,0035) Intervention Drug Start Time
(0018,0027) Intervention Drug Stop Time
(0040,2004) Issue Date of Imaging Service Request
(0040,2005) Issue Time of Imaging Service Request
(0038,0011) Issuer of Admission ID
(0038,0014) Issuer of Admission ID Sequence
(0012,0022) Issuer of Clinical Trial Protocol ID
(0012,0073) Issuer of Clinical Trial Series ID
(0012,0032) Issuer of Clinical Trial Site ID
(0012,0041) Issuer of Clinical Trial Subject ID
(0012,0043) Issuer of Clinical Trial Subject Reading ID
(0012,0055) Issuer of Clinical Trial Time Point ID
(0010,0021) Issuer of Patient ID
(0038,0061) Issuer of Service Episode ID
(0038,0064) Issuer of Service Episode ID Sequence
(0010,21D0) Last Menstrual Date
(0016,004F) Lens Make
(0016,0050) Lens Model
(0016,0051) Lens Serial Number
(0016,004E) Lens Specification
(0050,0021) Long Device Description
(0400,0404) MAC
(0016,002B) Maker Note
(0010,2000) Medical Alerts
(0010,1090) Medical Record Locator
(0010,1080) Military Rank
(0400,0550) Modified Attributes Sequence
(0020,3403) Modified Image Date
(0020,3406) Modified Image Description
(0020,3405) Modified Image Time
(0020,3401) Modifying Device ID
(0018,937B) Multi-energy Acquisition Description
(0008,1060) Name of Physician(s) Reading Study
(0040,1010) Names of Intended Recipients of Results
(0008,1000) Network ID
(0400,0552) Nonconforming Data Element Value
(0400,0551) Nonconforming Modified Attributes Sequence
(0040,A192) Observation Date (Trial)
(0040,A033) Observation Start DateTime
(0040,A193) Observation Time (Trial)
(0010,2180) Occupation
(0040,2010) Order Callback Phone Number
(0040,2011) Order Callback Telecom Information
(0040,2008) Order Entered By
(0040,2009) Order Enterer's Location
(0400,0561) Original Attributes Sequence
(2100,0070) Originator
(0012,0023) Other Clinical Trial Protocol IDs Sequence
(0010,1000) Other Patient IDs
(0010,1002) Other Patient IDs Sequence
(0010,1001) Other Patient Names
(0008,0024) Overlay Date
(0008,0034) Overlay Time
(0040,A07A) Participant Sequence
(0010,4000) Patient Comments
(300A,0794) Patient Setup Photo Description
(0038,0500) Patient State
(0040,1004) Patient Transport Arrangements
(300A,0792) Patient Treatment Preparation Method Description
(300A,078E) Patient Treatment Preparation Procedure Parameter Description
(0010,1040) Patient's Address
(0010,1010) Patient's Age
(0010,1005) Patient's Birth Name
(0010,0032) Patient's Birth Time
(0038,0400) Patient's Institution Residence
(0010,0050) Patient's Insurance Plan Code Sequence
(0010,1060) Patient's Mother's Birth Name
(0010,0101) Patient's Primary Language Code Sequence
(0010,0102) Patient's Primary Language Modifier Code Sequence
(0010,21F0) Patient's Religious Preference
(0010,1020) Patient's Size
(0010,2155) Patient's Telecom Information
(0010,2154) Patient's Telephone Numbers
(0010,1030) Patient's Weight
(0040,0243) Performed Location
(0040,0254) Performed Procedure Step Description
(0040,0250) Performed Procedure Step End Date
(0040,4051) Performed Procedure Step End DateTime
(0040,0251) Performed Procedure Step End Time
(0040,0253) Performed Procedure Step ID
(0040,0244) Performed Procedure Step Start Date
(0040,4050) Performed Procedure Step Start DateTime
(0040,0245) Performed Procedure Step Start Time
(0040,0241) Performed Station AE Title
(0040,4030) Performed Station Geographic Location Code Sequence
(0040,0242) Performed Station Name
(0040,4028) Performed Station Name Code Sequence
(0008,1052) Performing Physician Identification Sequence
(0008,1050) Performing Physician's Name
(0040,1102) Person's Address
(0040,1104) Person's Telecom Information
(0040,1103) Person's Telephone Numbers
(4008,0114) Physician Approving Interpretation
(0008,1062) Physician(s) Reading Study Identification Sequence
(0008,1048) Physician(s) of Record
(0008,1049) Physician(s) of Record Identification Sequence
(0018,1004) Plate ID
(3002,0123) Position Acquisition Template Description
(3002,0121) Position Acquisition Template Name
(0040,0012) Pre-Medication
(0010,21C0) Pregnancy Status
(300A,000E) Prescription Description
(0070,0082) Presentation Creation Date
(0070,0083) Presentation Creation Time
(3010,0061) Prior Treatment Dose Description
(0040,4052) Procedure Step Cancellation DateTime
(0044,000B) Product Expiration DateTime
(0008,1088) Pyramid Description
(0020,0027) Pyramid Label
(3006,004D) ROI Creator Sequence
(3006,002D) ROI DateTime
(3006,0028) ROI Description
(3006,0038) ROI Generation Description
(3006,004E) ROI Interpreter Sequence
(3006,002E) ROI Observation DateTime
(3006,0088) ROI Observation Description
(3006,0085) ROI Observation Label
(300A,0004) RT Plan Description
(300A,0003) RT Plan Name
(0018,1078) Radiopharmaceutical Start DateTime
(0018,1072) Radiopharmaceutical Start Time
(0018,1079) Radiopharmaceutical Stop DateTime
(0018,1073) Radiopharmaceutical Stop Time
(300C,0113) Reason for Omission Description
(0040,100A) Reason for Requested Procedure Code Sequence
(0032,1030) Reason for Study
(0032,1066) Reason for Visit
(0032,1067) Reason for Visit Code Sequence
(0040,2001) Reason for the Imaging Service Request
(0040,1002) Reason for the Requested Procedure
(0074,1234) Receiving AE
(0400,0402) Referenced Digital Signature Sequence
(0038,0004) Referenced Patient Alias Sequence
(0010,1100) Referenced Patient Photo Sequence
(0008,1120) Referenced Patient Sequence
(0400,0403) Referenced SOP Instance MAC Sequence
(0008,0096) Referring Physician Identification Sequence
(0008,0092) Referring Physician's Address
(0008,0094) Referring Physician's Telephone Numbers
(0010,2152) Region of Residence
(0040,0275) Request Attributes Sequence
(0032,1070) Requested Contrast Agent
(0040,1400) Requested Procedure Comments
(0040,1001) Requested Procedure ID
(0040,1005) Requested Procedure Location
(0018,9937) Requested Series Description
(0074,1236) Requesting AE
(0032,1032) Requesting Physician
(0032,1033) Requesting Service
(0018,9185) Respiratory Motion Compensation Technique Description
(0010,2299) Responsible Organization
(0010,2297) Responsible Person
(4008,4000) Results Comments
(4008,0118) Results Distribution List Sequence
(4008,0040) Results ID
(4008,0042) Results ID Issuer
(0008,0054) Retrieve AE Title
(0100,0420) SOP Authorization DateTime
(0038,001A) Scheduled Admission Date
(0038,001B) Scheduled Admission Time
(0038,001C) Scheduled Discharge Date
(0038,001D) Scheduled Discharge Time
(0040,4034) Scheduled Human Performers Sequence
(0038,001E) Scheduled Patient Institution Residence
(0040,000B) Scheduled Performing Physician Identification Sequence
(0040,0006) Scheduled Performing Physician's Name
(0040,0007) Scheduled Procedure Step Description
(0040,0004) Scheduled Procedure Step End Date
(0040,0005) Scheduled Procedure Step End Time
(0040,4008) Scheduled Procedure Step Expiration DateTime
(0040,0009) Scheduled Procedure Step ID
(0040,0011) Scheduled Procedure Step Location
(0040,4010) Scheduled Procedure Step Modification DateTime
(0040,0002) Scheduled Procedure Step Start Date
(0040,4005) Scheduled Procedure Step Start DateTime
(0040,0003) Scheduled Procedure Step Start Time
(0040,0001) Scheduled Station AE Title
(0040,4027) Scheduled Station Geographic Location Code Sequence
(0040,0010) Scheduled Station Name
(0040,4025) Scheduled Station Name Code Sequence
(0032,1020) Scheduled Study Location
(0032,1021) Scheduled Study Location AE Title
(0032,1000) Scheduled Study Start Date
(0032,1001) Scheduled Study Start Time
(0032,1010) Scheduled Study Stop Date
(0032,1011) Scheduled Study Stop Time
(0008,103E) Series Description
(0038,0062) Service Episode Description
(0038,0060) Service Episode ID
(300A,01B2) Setup Technique Description
(300A,01A6) Shielding Device Description
(0040,06FA) Slide Identifier
(0010,21A0) Smoking Status
(300A,0216) Source Manufacturer
(0038,0050) Special Needs
(0040,050A) Specimen Accession Number
(0040,0602) Specimen Detailed Description
(0040,0600) Specimen Short Description
(0008,0055) Station AE Title
(3006,0006) Structure Set Description
(3006,0004) Structure Set Name
(0032,1040) Study Arrival Date
(0032,1041) Study Arrival Time
(0032,4000) Study Comments
(0032,1050) Study Completion Date
(0032,1051) Study Completion Time
(0008,1030) Study Description
(0032,0012) Study ID Issuer
(0032,0034) Study Read Date
(0032,0035) Study Read Time
(0032,0032) Study Verified Date
(0032,0033) Study Verified Time
(0044,0010) Substance Administration DateTime
(0040,A354) Telephone Number (Trial)
(0040,DB07) Template Local Version
(0040,DB06) Template Version
(4000,4000) Text Comments
(2030,0020) Text String
(0040,A112) Time of Document Creation or Verbal Transaction (Trial)
(0018,1201) Time of Last Calibration
(0018,1014) Time of Secondary Capture
(0008,0201) Timezone Offset From UTC
(0088,0910) Topic Author
(0088,0912) Topic Keywords
(0088,0906) Topic Subject
(0088,0904) Topic Title
(0018,5011) Transducer Identification Sequence
(300A,000B) Treatment Sites
(0018,100A) UDI Sequence
(0018,1009) Unique Device Identifier
(0040,A352) Verbal Source (Trial)
(0040,A358) Verbal Source Identifier Code Sequence (Trial)
(0038,4000) Visit Comments
(0018,9373) X-Ray Detector Label
(003A,0329) Waveform Filter Description
""",
    "U": """
(0008,0017) Acquisition UID
(0020,9161) Concatenation UID
(3010,0006) Conceptual Volume UID
(3010,0013) Constituent Conceptual Volume UID
(0018,1002) Device UID
(0400,0100) Digital Signature UID
(0020,9164) Dimension Organization UID
(300A,0013) Dose Reference UID
(3010,006E) Dosimetric Objective UID
(0008,0058) Failed SOP Instance UID List
(0070,031A) Fiducial UID
(0020,0052) Frame of Reference UID
(0008,0014) Instance Creator UID
(0008,3010) Irradiation Event UID
(0028,1214) Large Palette Color Lookup Table UID
(0018,100B) Manufacturer's Device Class UID
(0002,0003) Media Storage SOP Instance UID
(003A,0310) Multiplex Group UID
(0040,A402) Observation Subject UID (Trial)
(0040,A171) Observation UID
(0028,1199) Palette Color Lookup Table UID
(300A,0650) Patient Setup UID
(0070,1101) Presentation Display Collection UID
(0070,1102) Presentation Sequence Collection UID
(0008,0019) Pyramid UID
(3010,003B) RT Treatment Phase UID
(3010,000B) Referenced Conceptual Volume UID
(300A,0083) Referenced Dose Reference UID
(3010,006F) Referenced Dosimetric Objective UID
(3010,0031) Referenced Fiducials UID
(3006,0024) Referenced Frame of Reference UID
(0040,4023) Referenced General Purpose Scheduled Procedure Step Transaction UID
(0040,A172) Referenced Observation UID (Trial)
(0008,1155) Referenced SOP Instance UID
(0004,1511) Referenced SOP Instance UID in File
(300A,0785) Referenced Treatment Position Group UID
(3006,00C2) Related Frame of Reference UID
(0000,1001) Requested SOP Instance UID
(0008,0018) SOP Instance UID
(0020,000E) Series Instance UID
(3010,0015) Source Conceptual Volume UID
(0064,0003) Source Frame of Reference UID
(0040,0554) Specimen UID
(0088,0140) Storage Media File-set UID
(0020,000D) Study Instance UID
(0020,0200) Synchronization Frame of Reference UID
(0018,2042) Target UID
(0040,DB0D) Template Extension Creator UID
(0040,DB0C) Template Extension Organization UID
(0062,0021) Tracking UID
(0008,1195) Transaction UID
(300A,0609) Treatment Position Group UID
(300A,0700) Treatment Session UID
(0040,A124) UID
""",
    "Z/D": """
(0070,0084) Content Creator's Name
(0008,0023) Content Date
(0008,0033) Content Time
(0018,0010) Contrast/Bolus Agent
(0018,9919) Instruction Performed DateTime
(0010,0020) Patient ID
""",
    "X/Z": """
(0040,0555) Acquisition Context Sequence
(0008,0022) Acquisition Date
(0008,0032) Acquisition Time
(2200,0005) Barcode Value
(2200,0002) Label Text
(0010,2203) Patient's Sex Neutered
(0008,1110) Referenced Study Sequence
(0032,1060) Requested Procedure Description
(300E,0008) Reviewer Name
(3008,0105) Source Serial Number
(300A,00B2) Treatment Machine Name
""",
    "X/D": """
(0018,1400) Acquisition Device Processing Description
(0018,700C) Date of Last Detector Calibration
(0018,700A) Detector ID
(0018,9517) End Acquisition DateTime
(3008,0054) First Treatment Date
(0008,0012) Instance Creation Date
(3010,004D) Intended Phase End Date
(3010,004C) Intended Phase Start Date
(3008,0056) Most Recent Treatment Date
(0040,A032) Observation DateTime
(0008,1072) Operator Identification Sequence
(0018,1030) Protocol Name
(300A,0006) RT Plan Date
(300A,0007) RT Plan Time
(3010,0056) RT Treatment Approach Label
(0008,0021) Series Date
(0008,0031) Series Time
(0018,9516) Start Acquisition DateTime
(0018,700E) Time of Last Detector Calibration
(3008,0250) Treatment Date
(3010,0077) Treatment Site
(3008,0251) Treatment Time
""",
    "X/Z/D": """
(0008,002A) Acquisition DateTime
(0018,1000) Device Serial Number
(0008,0013) Instance Creation Time
(0008,0082) Institution Code Sequence
(0008,0080) Institution Name
(0008,1070) Operators' Name
(0008,1111) Referenced Performed Procedure Step Sequence
(0008,1010) Station Name
""",
    "X/Z/U*": """
(0008,1140) Referenced Image Sequence
(0008,2112) Source Image Sequence
""",
}

ACTIONS = ("D", "Z", "X", "K", "C", "U", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*")

# The keep-list: the standard attributes, not listed by Table E.1-1, that a stored case keeps
# (the table's own D/Z/U attributes stay too, changed as it says). Every other attribute is
# removed: unknown tags of even groups (which may carry any text), retired and unlisted standard
# attributes alike. On it: what the IODs we store need (SOP Common, General Series/Image, the
# Image Plane geometry, the Image Pixel module, Modality and VOI LUTs), what the import reads
# (laterality, rescale, window), the MR/CT/CR acquisition parameters that describe a scanner but
# no person, the code items of anatomic region sequences, the Enhanced MR functional groups and
# dimensions (multi-frame), and the attributes de-identification itself writes. UIDs are
# replaced by the table's U action (SOP Instance, Study, Series, Frame of Reference...).
_KEEP = """
(0008,0005) Specific Character Set
(0008,0008) Image Type
(0008,0016) SOP Class UID
(0008,0060) Modality
(0008,0068) Presentation Intent Type
(0008,0070) Manufacturer
(0008,1090) Manufacturer's Model Name
(0018,0015) Body Part Examined
(0020,0060) Laterality
(0020,0062) Image Laterality
(0018,5100) Patient Position
(0020,0011) Series Number
(0020,0013) Instance Number
(0020,0012) Acquisition Number
(0020,0020) Patient Orientation
(0020,0032) Image Position (Patient)
(0020,0037) Image Orientation (Patient)
(0020,1041) Slice Location
(0020,1040) Position Reference Indicator
(0020,0100) Temporal Position Identifier
(0020,0105) Number of Temporal Positions
(0020,1002) Images in Acquisition
(0020,9056) Stack ID
(0020,9057) In-Stack Position Number
(0020,9221) Dimension Organization Sequence
(0020,9222) Dimension Index Sequence
(0020,9157) Dimension Index Values
(0020,9165) Dimension Index Pointer
(0020,9167) Functional Group Pointer
(0020,9311) Dimension Organization Type
(0028,0030) Pixel Spacing
(0018,0050) Slice Thickness
(0018,0088) Spacing Between Slices
(0028,0002) Samples per Pixel
(0028,0004) Photometric Interpretation
(0028,0006) Planar Configuration
(0028,0008) Number of Frames
(0028,0009) Frame Increment Pointer
(0028,0010) Rows
(0028,0011) Columns
(0028,0034) Pixel Aspect Ratio
(0028,0100) Bits Allocated
(0028,0101) Bits Stored
(0028,0102) High Bit
(0028,0103) Pixel Representation
(0028,0106) Smallest Image Pixel Value
(0028,0107) Largest Image Pixel Value
(0028,0108) Smallest Pixel Value in Series
(0028,0109) Largest Pixel Value in Series
(0028,0120) Pixel Padding Value
(0028,0121) Pixel Padding Range Limit
(0028,1050) Window Center
(0028,1051) Window Width
(0028,1052) Rescale Intercept
(0028,1053) Rescale Slope
(0028,1054) Rescale Type
(0028,1056) VOI LUT Function
(0028,3000) Modality LUT Sequence
(0028,3002) LUT Descriptor
(0028,3004) Modality LUT Type
(0028,3006) LUT Data
(0028,3010) VOI LUT Sequence
(7FE0,0010) Pixel Data
(7FE0,0001) Extended Offset Table
(7FE0,0002) Extended Offset Table Lengths
(0028,0301) Burned In Annotation
(0028,0302) Recognizable Visual Features
(0028,2110) Lossy Image Compression
(0028,2112) Lossy Image Compression Ratio
(0028,2114) Lossy Image Compression Method
(2050,0020) Presentation LUT Shape
(0028,0303) Longitudinal Temporal Information Modified
(0012,0062) Patient Identity Removed
(0012,0063) De-identification Method
(0012,0064) De-identification Method Code Sequence
(0018,0020) Scanning Sequence
(0018,0021) Sequence Variant
(0018,0022) Scan Options
(0018,0023) MR Acquisition Type
(0018,0024) Sequence Name
(0018,0025) Angio Flag
(0018,0080) Repetition Time
(0018,0081) Echo Time
(0018,0082) Inversion Time
(0018,0083) Number of Averages
(0018,0084) Imaging Frequency
(0018,0085) Imaged Nucleus
(0018,0086) Echo Number(s)
(0018,0087) Magnetic Field Strength
(0018,0089) Number of Phase Encoding Steps
(0018,0091) Echo Train Length
(0018,0093) Percent Sampling
(0018,0094) Percent Phase Field of View
(0018,0095) Pixel Bandwidth
(0018,1310) Acquisition Matrix
(0018,1312) In-plane Phase Encoding Direction
(0018,1314) Flip Angle
(0018,1315) Variable Flip Angle Flag
(0018,1316) SAR
(0018,1318) dB/dt
(0018,1100) Reconstruction Diameter
(0018,0060) KVP
(0018,1150) Exposure Time
(0018,1151) X-Ray Tube Current
(0018,1152) Exposure
(0018,1110) Distance Source to Detector
(0018,1111) Distance Source to Patient
(0018,1164) Imager Pixel Spacing
(0018,5101) View Position
(0018,0090) Data Collection Diameter
(0018,1120) Gantry/Detector Tilt
(0018,1140) Rotation Direction
(0018,1130) Table Height
(0018,1210) Convolution Kernel
(0018,1160) Filter Type
(0018,1170) Generator Power
(0018,1190) Focal Spot(s)
(0018,1191) Anode Target Material
(0008,2218) Anatomic Region Sequence
(0008,0100) Code Value
(0008,0102) Coding Scheme Designator
(0008,0103) Coding Scheme Version
(0008,0104) Code Meaning
(0008,0105) Mapping Resource
(0008,010B) Context Group Extension Flag
(0008,010D) Context Group Extension Creator UID
(0008,010F) Context Identifier
(0008,0117) Context UID
(0008,2220) Anatomic Region Modifier Sequence
(0008,2228) Primary Anatomic Structure Sequence
(0008,2230) Primary Anatomic Structure Modifier Sequence
(5200,9229) Shared Functional Groups Sequence
(5200,9230) Per-Frame Functional Groups Sequence
(0020,9113) Plane Position Sequence
(0020,9116) Plane Orientation Sequence
(0028,9110) Pixel Measures Sequence
(0028,9132) Frame VOI LUT Sequence
(0028,9145) Pixel Value Transformation Sequence
(0020,9111) Frame Content Sequence
(0020,9128) Temporal Position Index
(0020,9071) Frame Anatomy Sequence
(0020,9072) Frame Laterality
(0018,9114) MR Echo Sequence
(0018,9082) Effective Echo Time
(0018,9112) MR Timing and Related Parameters Sequence
(0018,9125) MR FOV/Geometry Sequence
(0018,9006) MR Imaging Modifier Sequence
(0018,9226) MR Image Frame Type Sequence
(0008,9007) Frame Type
(0018,9005) Pulse Sequence Name
(0018,9008) Echo Pulse Sequence
(0018,9009) Inversion Recovery
(0018,9010) Flow Compensation
(0018,9011) Multiple Spin Echo
(0018,9012) Multi-planar Excitation
(0018,9014) Phase Contrast
(0018,9015) Time of Flight Contrast
(0018,9017) Steady State Pulse Sequence
(0018,9018) Echo Planar Pulse Sequence
(0018,9020) Magnetization Transfer
(0018,9022) Blood Signal Nulling
(0018,9024) Saturation Recovery
(0018,9025) Spectrally Selected Suppression
(0018,9026) Spectrally Selected Excitation
(0018,9027) Spatial Pre-saturation
(0018,9029) Oversampling Phase
(0018,9032) Geometry of k-Space Traversal
(0018,9033) Segmented k-Space Traversal
(0018,9034) Rectilinear Phase Encode Reordering
(0018,9093) Number of k-Space Trajectories
(0018,9094) Coverage of k-Space
(0018,9100) Resonant Nucleus
(0018,9064) k-space Filtering
(0018,9058) MR Acquisition Frequency Encoding Steps
(0018,9231) MR Acquisition Phase Encoding Steps in-plane
(0018,9232) MR Acquisition Phase Encoding Steps out-of-plane
(0018,9240) RF Echo Train Length
(0018,9241) Gradient Echo Train Length
(0018,9079) Inversion Times
(0018,9073) Acquisition Duration
(0018,9081) Partial Fourier
(0018,9069) Parallel Reduction Factor In-plane
(0008,9205) Pixel Presentation
(0008,9206) Volumetric Properties
(0008,9207) Volume Based Calculation Technique
(0008,9208) Complex Image Component
(0008,9209) Acquisition Contrast
(0020,9156) Frame Acquisition Number
(0020,9162) In-concatenation Number
(0020,9163) In-concatenation Total Number
(0008,9215) Derivation Code Sequence
"""

_LINE = re.compile(r"^\(([0-9A-F]{4}),([0-9A-F]{4})\) (.+)$")


def _parse() -> tuple[dict[int, str], dict[int, str]]:
    actions: dict[int, str] = {}
    names: dict[int, str] = {}
    for action, block in _TABLE.items():
        for line in block.strip().splitlines():
            match = _LINE.match(line)
            if match is None:  # pragma: no cover - guards the transcription above
                raise ValueError(f"malformed PS3.15 table line: {line!r}")
            tag = int(match[1] + match[2], 16)
            if tag in actions:  # pragma: no cover - guards the transcription above
                raise ValueError(f"PS3.15 table lists {line!r} twice")
            actions[tag] = action
            names[tag] = match[3]
    return actions, names


_actions, _names = _parse()


def _parse_keep() -> frozenset[int]:
    keep = set()
    for line in _KEEP.strip().splitlines():
        match = _LINE.match(line)
        if match is None:  # pragma: no cover - guards the transcription above
            raise ValueError(f"malformed keep-list line: {line!r}")
        tag = int(match[1] + match[2], 16)
        if tag in _actions:  # pragma: no cover - the table decides what it lists
            raise ValueError(f"keep-list line {line!r} is in Table E.1-1")
        keep.add(tag)
        _keep_names[tag] = match[3]
    return frozenset(keep)


_keep_names: dict[int, str] = {}
#: The standard attributes kept as they are (see ``_KEEP``), as ints ``0xggggeeee``.
KEEP: frozenset[int] = _parse_keep()
#: Their names, as transcribed (for messages and tests).
KEEP_NAMES: MappingProxyType[int, str] = MappingProxyType(_keep_names)

#: Basic Profile action of each attribute of Table E.1-1, keyed by the tag as an int.
BASIC_PROFILE: MappingProxyType[int, str] = MappingProxyType(_actions)
#: The attribute names of the table (for messages and tests).
ATTRIBUTE_NAMES: MappingProxyType[int, str] = MappingProxyType(_names)

#: Overlay groups 6000-60FF (even): Overlay Data (60xx,3000) and Comments (60xx,4000) are X;
#: we remove the whole overlay group, as the import never keeps burned-in graphics.
OVERLAY_GROUPS = range(0x6000, 0x6100)
#: Curve groups 5000-50FF (retired): Curve Data (50xx,xxxx) is X.
CURVE_GROUPS = range(0x5000, 0x5100)


def basic_profile_action(tag: int) -> str | None:
    """The Basic Profile action for ``tag`` (an int ``0xggggeeee``), or ``None`` when the table
    does not list it (it is then kept). Private tags, curves and overlays are ``"X"``."""
    action = _actions.get(tag)
    if action is not None:
        return action
    group = tag >> 16
    if group % 2 == 1 or group in OVERLAY_GROUPS or group in CURVE_GROUPS:
        return "X"
    return None


def deidentification_action(tag: int, *, keep: frozenset[int] = frozenset()) -> str | None:
    """What de-identification does with ``tag``: the Basic Profile action where Table E.1-1
    lists it (or it is private, an overlay or a curve), ``None`` (keep) when it is on the
    keep-list :data:`KEEP` or in ``keep`` (extra tags a deployment keeps), else ``"X"``."""
    action = basic_profile_action(tag)
    if action is not None:
        return action
    return None if tag in KEEP or tag in keep else "X"
