//! The indicator extraction against the recorded ILCD+EPD XML (ee8863aa, EN 15804+A1, modules A1-A3..D).
//!
//! soda4LCA's extended JSON view carries the same `<epd:amount epd:module=".." epd:scenario="..">` values as
//! `other.anies[] = {module, scenario, value}` (as the four recorded JSON views show). This test reads the XML
//! itself, builds that shape from it, runs the connector's row builder and compares every value with the XML text.

use quick_xml::events::Event;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const FILE: &str = "process_ilcd_ee8863aa-7276-4896-b07a-713937a3134d_00.00.018.xml";

/// (indicator UUID, kind, direction, [(module, scenario, value text)]) per exchange / LCIA result with amounts.
type Entry = (String, &'static str, Option<String>, Vec<(String, String, String)>);

fn read_xml() -> Vec<Entry> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/oekobaudat").join(FILE);
    let xml = std::fs::read_to_string(path).unwrap();
    let mut reader = quick_xml::Reader::from_str(&xml);
    let mut out: Vec<Entry> = Vec::new();
    let mut current: Option<Entry> = None;
    let mut amount: Option<(String, String)> = None;
    let mut in_direction = false;
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) => {
                let attr = |name: &[u8]| {
                    e.attributes()
                        .flatten()
                        .find(|a| a.key.local_name().as_ref() == name)
                        .map(|a| a.decode_and_unescape_value(reader.decoder()).unwrap().into_owned())
                };
                match e.local_name().as_ref() {
                    b"exchange" => current = Some((String::new(), "flow", None, Vec::new())),
                    b"LCIAResult" => current = Some((String::new(), "lcia", None, Vec::new())),
                    b"referenceToFlowDataSet" | b"referenceToLCIAMethodDataSet" => {
                        if let Some(c) = current.as_mut() {
                            c.0 = attr(b"refObjectId").unwrap();
                        }
                    }
                    b"exchangeDirection" => in_direction = true,
                    b"amount" => amount = Some((attr(b"module").unwrap(), attr(b"scenario").unwrap_or_default())),
                    _ => {}
                }
            }
            Event::Text(t) => {
                let text = t.decode().unwrap().into_owned();
                if let (Some((module, scenario)), Some(c)) = (amount.take(), current.as_mut()) {
                    c.3.push((module, scenario, text));
                } else if in_direction {
                    if let Some(c) = current.as_mut() {
                        c.2 = Some(text.to_uppercase());
                    }
                }
            }
            Event::End(e) => match e.local_name().as_ref() {
                b"exchange" | b"LCIAResult" => {
                    if let Some(c) = current.take().filter(|c| !c.3.is_empty()) {
                        out.push(c);
                    }
                }
                b"exchangeDirection" => in_direction = false,
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

#[test]
fn indicator_values_match_the_ilcd_xml() {
    let entries = read_xml();
    assert!(entries.len() >= 20, "the XML has indicator flows and LCIA results with amounts");
    // The extended-JSON shape of the same data.
    let to_anies = |amounts: &[(String, String, String)]| -> Value {
        let list: Vec<Value> = amounts
            .iter()
            .map(|(m, s, v)| {
                let mut a = json!({"module": m, "value": v});
                if !s.is_empty() {
                    a["scenario"] = json!(s);
                }
                a
            })
            .collect();
        json!({ "anies": list })
    };
    let exchanges: Vec<Value> = entries
        .iter()
        .filter(|e| e.1 == "flow")
        .map(|(uuid, _, direction, amounts)| {
            json!({"referenceToFlowDataSet": {"refObjectId": uuid}, "exchange direction": direction, "other": to_anies(amounts)})
        })
        .collect();
    let lcia: Vec<Value> = entries
        .iter()
        .filter(|e| e.1 == "lcia")
        .map(|(uuid, _, _, amounts)| json!({"referenceToLCIAMethodDataSet": {"refObjectId": uuid}, "other": to_anies(amounts)}))
        .collect();
    let epd = json!({
        "modellingAndValidation": {"complianceDeclarations": {"compliance": [
            {"referenceToComplianceSystem": {"refObjectId": "b00f9ec0-7874-11e3-981f-0800200c9a66"}}]}},
        "exchanges": {"exchange": exchanges},
        "LCIAResults": {"LCIAResult": lcia},
    });
    let rows = source_oekobaudat::records::epd_rows(&epd, "ee8863aa-7276-4896-b07a-713937a3134d", "00.00.018", "en");

    let mut expected = BTreeMap::new();
    for (uuid, _, _, amounts) in &entries {
        for (module, scenario, text) in amounts {
            expected.insert((uuid.clone(), module.clone(), scenario.clone()), text.trim().parse::<f64>().unwrap());
        }
    }
    let got: BTreeMap<(String, String, String), f64> = rows
        .indicators
        .iter()
        .map(|r| {
            let key = |k: &str| r[k].as_str().unwrap().to_string();
            ((key("indicator_uuid"), key("module"), key("scenario")), r["value"].as_f64().unwrap())
        })
        .collect();
    assert_eq!(got, expected);
    assert_eq!(rows.indicators.len(), expected.len(), "one row per indicator x module x scenario");

    // Every indicator of this EN 15804+A1 EPD is known by UUID; spot values from the XML text.
    let find = |key: &str, module: &str| {
        rows.indicators
            .iter()
            .find(|r| r["indicator_key"] == key && r["module"] == module)
            .unwrap_or_else(|| panic!("{key} {module}"))
    };
    assert!(rows.indicators.iter().all(|r| r["indicator_key"].is_string() && r["standard"] == "EN 15804+A1"));
    assert_eq!(find("EEE", "A5")["value"], 10.74);
    assert_eq!(find("EEE", "A5")["direction"], "OUTPUT");
    assert!(find("GWP", "A1-A3")["value"].is_number());
    assert!(find("PENRT", "D")["value"].is_number());
    assert_eq!(find("GWP", "A1-A3")["indicator_profile"], "EN_15804");
}
