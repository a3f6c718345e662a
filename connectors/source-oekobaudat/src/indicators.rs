//! EN 15804 indicators by UUID: the LCIA-method and indicator-flow data sets EPDs reference, with their
//! short code (GWP-total, PENRT, ...), group and reference unit.
//!
//! Origin: openLCA's EPD profiles (GreenDelta/olca-ilcd@2970519, `src/main/resources/org/openlca/ilcd/epd/`
//! `EN_15804.xml`, `EN_15804_A2_EF30.xml`, `EN_15804_A2_EF31.xml`; copies in `shared/fixtures/oekobaudat/`
//! as `olca_epd_profile_*.xml`). The table below was generated from those files; a test re-reads them and
//! checks that it still matches. The facts (UUIDs, codes, units) carry over; no code was copied.

use std::collections::HashMap;
use std::sync::LazyLock;

/// Compliance system "EN 15804+A1" (source data set UUID).
pub const COMPLIANCE_EN15804_A1: &str = "b00f9ec0-7874-11e3-981f-0800200c9a66";
/// Compliance system "EN 15804+A2" (source data set UUID).
pub const COMPLIANCE_EN15804_A2: &str = "c0016b33-8cf7-415c-ac6e-deba0d21440d";

/// Whether an indicator is an LCIA result (impact) or an indicator flow (resource use, waste, output).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Lcia,
    Flow,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Lcia => "lcia",
            Kind::Flow => "flow",
        }
    }
}

/// Profile membership bits.
pub const P_A1: u8 = 1;
pub const P_EF30: u8 = 2;
pub const P_EF31: u8 = 4;

/// Profile ids as openLCA names them, in bit order.
pub const PROFILES: [(u8, &str); 3] = [(P_A1, "EN_15804"), (P_EF30, "EN_15804_A2_EF30"), (P_EF31, "EN_15804_A2_EF31")];

/// One indicator of the profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Indicator {
    pub uuid: &'static str,
    pub key: &'static str,
    pub kind: Kind,
    pub group: &'static str,
    pub unit: &'static str,
    /// Bit set of the profiles (P_A1, P_EF30, P_EF31) listing this UUID.
    pub profiles: u8,
}

const fn ind(
    uuid: &'static str,
    key: &'static str,
    kind: Kind,
    group: &'static str,
    unit: &'static str,
    profiles: u8,
) -> Indicator {
    Indicator { uuid, key, kind, group, unit, profiles }
}

use Kind::{Flow, Lcia};

/// Every indicator of the three profiles, once per UUID.
pub const INDICATORS: &[Indicator] = &[
    ind("f7c73bb9-ab1a-4249-9c6d-379a0de6f67e", "ADPE", Lcia, "RESOURCE_USE", "kg Sb-eq.", P_A1),
    ind("804ebcdf-309d-4098-8ed8-fdaf2f389981", "ADPF", Lcia, "RESOURCE_USE", "MJ", P_A1),
    ind("b4274add-93b7-4905-a5e4-2e878c4e4216", "AP", Lcia, "ENVIRONMENTAL", "kg SO2-eq.", P_A1),
    ind("a2b32f97-3fc7-4af2-b209-525bc6426f33", "CRU", Flow, "OUTPUT_FLOWS", "kg", P_A1 | P_EF30 | P_EF31),
    ind("f58827d0-b407-4ec6-be75-8b69efb98a0f", "EP", Lcia, "ENVIRONMENTAL", "kg P-eq.", P_A1),
    ind("4da0c987-2b76-40d6-9e9e-82a017aaaf29", "EEE", Flow, "OUTPUT_FLOWS", "MJ", P_A1 | P_EF30 | P_EF31),
    ind("98daf38a-7a79-46d3-9a37-2b7bd0955810", "EET", Flow, "OUTPUT_FLOWS", "MJ", P_A1 | P_EF30 | P_EF31),
    ind("77e416eb-a363-4258-a04e-171d843a6460", "GWP", Lcia, "ENVIRONMENTAL", "kg CO2-eq.", P_A1),
    ind("430f9e0f-59b2-46a0-8e0d-55e0e84948fc", "HWD", Flow, "WASTE_DISPOSAL", "kg", P_A1 | P_EF30 | P_EF31),
    ind("59a9181c-3aaf-46ee-8b13-2b3723b6e447", "MER", Flow, "OUTPUT_FLOWS", "kg", P_A1 | P_EF30 | P_EF31),
    ind("d7fe48a5-4103-49c8-9aae-b0b5dfdbd6ae", "MFR", Flow, "OUTPUT_FLOWS", "kg", P_A1 | P_EF30 | P_EF31),
    ind("3cf952c8-f3a4-461d-8c96-96456ca62246", "FW", Flow, "RESOURCE_USE", "m3", P_A1 | P_EF30 | P_EF31),
    ind("b29ef66b-e286-4afa-949f-62f1a7b4d7fa", "NHWD", Flow, "WASTE_DISPOSAL", "kg", P_A1 | P_EF30 | P_EF31),
    ind("ac857178-2b45-46ec-892a-a9a4332f0372", "PENRE", Flow, "RESOURCE_USE", "MJ", P_A1 | P_EF30 | P_EF31),
    ind("1421caa0-679d-4bf4-b282-0eb850ccae27", "PENRM", Flow, "RESOURCE_USE", "MJ", P_A1 | P_EF30 | P_EF31),
    ind("89def144-d39a-4287-b86f-efde453ddcb2", "NRSF", Flow, "RESOURCE_USE", "MJ", P_A1 | P_EF30 | P_EF31),
    ind("06dcd26f-025f-401a-a7c1-5e457eb54637", "ODP", Lcia, "ENVIRONMENTAL", "kg CFC-11-eq.", P_A1),
    ind("1e84a202-dae6-42aa-9e9d-71ea48b8be00", "POCP", Lcia, "ENVIRONMENTAL", "kg C2H2-eq.", P_A1),
    ind("3449546e-52ad-4b39-b809-9fb77cea8ff6", "RWD", Flow, "WASTE_DISPOSAL", "kg", P_A1 | P_EF30 | P_EF31),
    ind("20f32be5-0398-4288-9b6d-accddd195317", "PERE", Flow, "RESOURCE_USE", "MJ", P_A1 | P_EF30 | P_EF31),
    ind("fb3ec0de-548d-4508-aea5-00b73bf6f702", "PERM", Flow, "RESOURCE_USE", "MJ", P_A1 | P_EF30 | P_EF31),
    ind("64333088-a55f-4aa2-9a31-c10b07816787", "RSF", Flow, "RESOURCE_USE", "MJ", P_A1 | P_EF30 | P_EF31),
    ind("c6a1f35f-2d09-4f54-8dfb-97e502e1ce92", "SM", Flow, "RESOURCE_USE", "kg", P_A1 | P_EF30 | P_EF31),
    ind("06159210-646b-4c8d-8583-da9b3b95a6c1", "PENRT", Flow, "RESOURCE_USE", "MJ", P_A1 | P_EF30 | P_EF31),
    ind("53f97275-fa8a-4cdd-9024-65936002acd0", "PERT", Flow, "RESOURCE_USE", "MJ", P_A1 | P_EF30 | P_EF31),
    ind("b2ad6494-c78d-11e6-9d9d-cec0c932ce01", "ADPE", Lcia, "RESOURCE_USE", "kg Sb-eq.", P_EF30 | P_EF31),
    ind("b2ad6110-c78d-11e6-9d9d-cec0c932ce01", "ADPF", Lcia, "RESOURCE_USE", "MJ", P_EF30 | P_EF31),
    ind("b5c611c6-def3-11e6-bf01-fe55135034f3", "AP", Lcia, "ENVIRONMENTAL", "mol H+-eq.", P_EF30 | P_EF31),
    ind("b53ec18f-7377-4ad3-86eb-cc3f4f276b2b", "EP-freshwater", Lcia, "ENVIRONMENTAL", "kg P-eq.", P_EF30 | P_EF31),
    ind("b5c619fa-def3-11e6-bf01-fe55135034f3", "EP-marine", Lcia, "ENVIRONMENTAL", "kg N-eq.", P_EF30 | P_EF31),
    ind("b5c614d2-def3-11e6-bf01-fe55135034f3", "EP-terrestrial", Lcia, "ENVIRONMENTAL", "mol N-eq.", P_EF30 | P_EF31),
    ind("6a37f984-a4b3-458a-a20a-64418c145fa2", "GWP-total", Lcia, "ENVIRONMENTAL", "kg CO2-eq.", P_EF30),
    ind("5f635281-343e-44fb-83df-1971b155e6b6", "GWP-fossil", Lcia, "ENVIRONMENTAL", "kg CO2-eq.", P_EF30),
    ind("2356e1ab-0185-4db5-86e5-16de51c7485c", "GWP-biogenic", Lcia, "ENVIRONMENTAL", "kg CO2-eq.", P_EF30),
    ind("4331bbdb-978a-490d-8707-eeb047f01a55", "GWP-luluc", Lcia, "ENVIRONMENTAL", "kg CO2-eq.", P_EF30),
    ind("fb774615-0575-45de-9a89-1ded92f19770", "GWP-GHG", Lcia, "ENVIRONMENTAL", "kg CO2-eq.", P_EF30 | P_EF31),
    ind("b5c629d6-def3-11e6-bf01-fe55135034f3", "ODP", Lcia, "ENVIRONMENTAL", "kg CFC-11-eq.", P_EF30 | P_EF31),
    ind("b5c610fe-def3-11e6-bf01-fe55135034f3", "POCP", Lcia, "ENVIRONMENTAL", "kg NMVOC-eq.", P_EF30 | P_EF31),
    ind("b2ad66ce-c78d-11e6-9d9d-cec0c932ce01", "WDP", Lcia, "ENVIRONMENTAL", "m3 world eq. deprived", P_EF30 | P_EF31),
    ind("b5c602c6-def3-11e6-bf01-fe55135034f3", "PM", Lcia, "ENVIRONMENTAL", "Disease incidence", P_EF30 | P_EF31),
    ind("b5c632be-def3-11e6-bf01-fe55135034f3", "IRP", Lcia, "ENVIRONMENTAL", "kgBq U235-eq.", P_EF30 | P_EF31),
    ind("ee1082d1-b0f7-43ca-a1f0-21e2a4a74511", "ETP-fw", Lcia, "ENVIRONMENTAL", "CTUe", P_EF30),
    ind("2299222a-bbd8-474f-9d4f-4dd1f18aea7c", "HTP-c", Lcia, "ENVIRONMENTAL", "CTUh", P_EF30 | P_EF31),
    ind("3af763a5-b7a1-48c9-9cee-1f223481fcef", "HTP-nc", Lcia, "ENVIRONMENTAL", "CTUh", P_EF30),
    ind("b2ad6890-c78d-11e6-9d9d-cec0c932ce01", "SQP", Lcia, "ENVIRONMENTAL", "dimensionless", P_EF30 | P_EF31),
    ind("a7ea142a-9749-11ed-a8fc-0242ac120002", "GWP-total", Lcia, "ENVIRONMENTAL", "kg CO2-eq.", P_EF31),
    ind("a7ea19c0-9749-11ed-a8fc-0242ac120002", "GWP-fossil", Lcia, "ENVIRONMENTAL", "kg CO2-eq.", P_EF31),
    ind("a7ea186c-9749-11ed-a8fc-0242ac120002", "GWP-biogenic", Lcia, "ENVIRONMENTAL", "kg CO2-eq.", P_EF31),
    ind("a7ea1ae2-9749-11ed-a8fc-0242ac120002", "GWP-luluc", Lcia, "ENVIRONMENTAL", "kg CO2-eq.", P_EF31),
    ind("05316e7a-b254-4bea-9cf0-6bf33eb5c630", "ETP-fw", Lcia, "ENVIRONMENTAL", "CTUe", P_EF31),
    ind("7cfdcfcf-b222-4b26-888a-a55f9fbf7ac8", "HTP-nc", Lcia, "ENVIRONMENTAL", "CTUh", P_EF31),
];

static BY_UUID: LazyLock<HashMap<&'static str, &'static Indicator>> =
    LazyLock::new(|| INDICATORS.iter().map(|i| (i.uuid, i)).collect());

/// The indicator with this LCIA-method or flow UUID (case-insensitive).
pub fn by_uuid(uuid: &str) -> Option<&'static Indicator> {
    BY_UUID.get(uuid).or_else(|| BY_UUID.get(uuid.to_ascii_lowercase().as_str())).copied()
}

/// The EN 15804 version a compliance-system UUID stands for.
pub fn standard_of_compliance(uuid: &str) -> Option<&'static str> {
    match uuid.to_ascii_lowercase().as_str() {
        COMPLIANCE_EN15804_A1 => Some("EN 15804+A1"),
        COMPLIANCE_EN15804_A2 => Some("EN 15804+A2"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quick_xml::events::Event;

    /// Re-read the openLCA profiles and compare with the embedded table (code, kind, group, unit, membership).
    #[test]
    fn table_matches_the_profile_files() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/oekobaudat");
        let mut seen: HashMap<String, (String, Kind, String, u8)> = HashMap::new();
        for (bit, id) in PROFILES {
            let xml = std::fs::read_to_string(dir.join(format!("olca_epd_profile_{id}.xml"))).unwrap();
            let mut reader = quick_xml::Reader::from_str(&xml);
            let (mut code, mut group) = (String::new(), String::new());
            let mut current: Option<(String, Kind)> = None;
            loop {
                match reader.read_event().unwrap() {
                    Event::Start(e) | Event::Empty(e) => {
                        let attr = |name: &[u8]| {
                            e.attributes()
                                .flatten()
                                .find(|a| a.key.as_ref() == name)
                                .map(|a| a.decode_and_unescape_value(reader.decoder()).unwrap().into_owned())
                        };
                        match e.local_name().as_ref() {
                            b"indicator" => {
                                code = attr(b"code").unwrap();
                                group = attr(b"group").unwrap();
                            }
                            b"ref" => {
                                let kind = if attr(b"type").unwrap() == "LCIA method data set" { Lcia } else { Flow };
                                current = Some((attr(b"refObjectId").unwrap(), kind));
                            }
                            _ => {}
                        }
                    }
                    Event::End(e) if e.local_name().as_ref() == b"indicator" => {
                        let (uuid, kind) = current.take().unwrap();
                        let entry = seen.entry(uuid).or_insert((code.clone(), kind, group.clone(), 0));
                        assert_eq!(entry.0, code);
                        entry.3 |= bit;
                    }
                    Event::Eof => break,
                    _ => {}
                }
            }
        }
        assert_eq!(seen.len(), INDICATORS.len());
        for (uuid, (code, kind, group, bits)) in &seen {
            let ind = by_uuid(uuid).unwrap_or_else(|| panic!("{uuid} ({code}) missing from the table"));
            assert_eq!((ind.key, ind.kind, ind.group, ind.profiles), (code.as_str(), *kind, group.as_str(), *bits));
        }
        assert_eq!(by_uuid("6A37F984-A4B3-458A-A20A-64418C145FA2").unwrap().key, "GWP-total");
        assert_eq!(standard_of_compliance(COMPLIANCE_EN15804_A2), Some("EN 15804+A2"));
    }
}
