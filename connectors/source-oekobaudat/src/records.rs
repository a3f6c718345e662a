//! Turning soda4LCA answers into records: list entries into `processes` rows, an EPD's extended JSON view
//! into `epd_indicators` rows (one per indicator x module x scenario) and one `epd_details` row.

use crate::indicators::{self, Kind, PROFILES};
use serde_json::{json, Map, Value};

/// Text of a multi-language value: a plain string, `{value, lang}` or a list of them. Prefers `lang`, then
/// English, then German, then the first non-empty text.
pub fn pick_text(v: &Value, lang: Option<&str>) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()).filter(|s| !s.is_empty()),
        Value::Object(o) => o.get("value").and_then(Value::as_str).map(str::to_string).filter(|s| !s.is_empty()),
        Value::Array(items) => {
            let texts: Vec<(Option<&str>, &str)> = items
                .iter()
                .filter_map(|i| {
                    let text = i.get("value").and_then(Value::as_str).or_else(|| i.as_str())?;
                    (!text.is_empty()).then(|| (i.get("lang").and_then(Value::as_str), text))
                })
                .collect();
            let preferred = [lang, Some("en"), Some("de")];
            preferred
                .iter()
                .flatten()
                .find_map(|want| texts.iter().find(|(l, _)| l.is_some_and(|l| l.eq_ignore_ascii_case(want))))
                .or_else(|| texts.first())
                .map(|(_, t)| t.to_string())
        }
        _ => None,
    }
}

/// A number from the API's string form ("7.95E-6", "-764.06", "0,696"); None if empty or not a finite number.
pub fn parse_number(v: &Value) -> Option<f64> {
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<f64>().ok().or_else(|| {
                // A decimal comma (German locale) but never a thousands separator with a dot.
                (!s.contains('.') && s.matches(',').count() == 1).then(|| s.replace(',', ".").parse().ok()).flatten()
            })
        }
        _ => None,
    };
    n.filter(|f| f.is_finite())
}

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, key| cur.get(key))
}

fn str_at(v: &Value, path: &[&str]) -> Option<String> {
    get(v, path).and_then(Value::as_str).map(str::to_string)
}

fn int_at(v: &Value, path: &[&str]) -> Option<i64> {
    get(v, path).and_then(|x| x.as_i64().or_else(|| x.as_str().and_then(|s| s.trim().parse().ok())))
}

fn array<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    get(v, path).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// A `processes` record from one list entry (keys of soda4LCA's JSON list serializer).
pub fn process_record(item: &Value, data_stock: &str) -> Value {
    let refs = |key: &str| -> Value {
        Value::Array(
            array(item, &[key])
                .iter()
                .map(|r| json!({"uuid": r.get("uuid"), "name": r.get("name").and_then(|n| pick_text(n, None))}))
                .collect(),
        )
    };
    json!({
        "uuid": item.get("uuid"),
        "version": item.get("version"),
        "name": item.get("name").and_then(|n| pick_text(n, None)),
        "languages": item.get("languages"),
        "classification": item.get("classific"),
        "classification_id": item.get("classificId"),
        "classification_system": item.get("classificSystem"),
        "type": item.get("type"),
        "sub_type": item.get("subType"),
        "location": item.get("geo"),
        "reference_year": int_at(item, &["refYear"]),
        "valid_until": int_at(item, &["validUntil"]),
        "owner": item.get("owner"),
        "compliance": refs("compliance"),
        "data_sources": refs("dataSources"),
        "reference_flows": array(item, &["referenceFlows"]).iter().map(|r| json!({
            "uuid": r.get("uuid"), "name": r.get("name"), "unit": r.get("unit"),
            "mean_value": r.get("meanValue").and_then(parse_number)})).collect::<Vec<_>>(),
        "registration_number": item.get("regNo"),
        "registration_authority": item.get("regAuthority").map(|r| json!({"uuid": r.get("uuid"), "name": r.get("name")})),
        "meta_data_only": item.get("metaDataOnly").and_then(Value::as_bool).unwrap_or(false),
        "node_id": item.get("nodeid"),
        "uri": item.get("uri"),
        "data_stock": data_stock,
    })
}

/// Rows of one EPD's extended view.
pub struct EpdRows {
    pub indicators: Vec<Value>,
    pub details: Value,
}

/// The EN 15804 version of an EPD: its compliance declarations, else the okworx profile attribute, else the
/// profile its indicators belong to.
fn standard(epd: &Value, profile: Option<&str>) -> Option<&'static str> {
    let declared = array(epd, &["modellingAndValidation", "complianceDeclarations", "compliance"])
        .iter()
        .filter_map(|c| str_at(c, &["referenceToComplianceSystem", "refObjectId"]))
        .chain(
            array(epd, &["modellingAndValidation", "LCIMethodAndAllocation", "referenceToLCAMethodDetails"])
                .iter()
                .filter_map(|c| str_at(c, &["refObjectId"])),
        )
        .filter_map(|u| indicators::standard_of_compliance(&u))
        .max();
    if declared.is_some() {
        return declared;
    }
    let attr = get(epd, &["otherAttributes"])
        .and_then(Value::as_object)
        .and_then(|attrs| attrs.iter().find(|(k, _)| k.ends_with("}profile")).and_then(|(_, v)| v.as_str()));
    match attr {
        Some("EN_15804_A2") => Some("EN 15804+A2"),
        Some("EN_15804") => Some("EN 15804+A1"),
        _ => match profile {
            Some("EN_15804") => Some("EN 15804+A1"),
            Some(_) => Some("EN 15804+A2"),
            None => None,
        },
    }
}

/// The openLCA profile that covers most of the EPD's LCIA indicators (tells EF 3.0 from EF 3.1 by GWP-total).
fn best_profile(found: &[&indicators::Indicator]) -> Option<&'static str> {
    PROFILES
        .iter()
        .map(|(bit, id)| (found.iter().filter(|i| i.kind == Kind::Lcia && i.profiles & bit != 0).count(), *id))
        .filter(|(n, _)| *n > 0)
        .max_by_key(|(n, _)| *n)
        .map(|(_, id)| id)
}

struct Source<'a> {
    reference: &'a Value,
    kind: Kind,
    direction: Option<&'a str>,
    anies: &'a [Value],
}

/// Every indicator row and the details row of one EPD (`uuid`/`version` as listed).
pub fn epd_rows(epd: &Value, uuid: &str, version: &str, lang: &str) -> EpdRows {
    let mut sources: Vec<Source> = Vec::new();
    for r in array(epd, &["LCIAResults", "LCIAResult"]) {
        if let Some(reference) = r.get("referenceToLCIAMethodDataSet") {
            sources.push(Source { reference, kind: Kind::Lcia, direction: None, anies: array(r, &["other", "anies"]) });
        }
    }
    for e in array(epd, &["exchanges", "exchange"]) {
        let anies = array(e, &["other", "anies"]);
        // Ordinary flows (the reference product) carry no per-module amounts.
        if let (Some(reference), true) =
            (e.get("referenceToFlowDataSet"), anies.iter().any(|a| a.get("module").is_some()))
        {
            let direction = e.get("exchange direction").or_else(|| e.get("exchangeDirection")).and_then(Value::as_str);
            sources.push(Source { reference, kind: Kind::Flow, direction, anies });
        }
    }
    let matched: Vec<&indicators::Indicator> = sources
        .iter()
        .filter_map(|s| s.reference.get("refObjectId").and_then(Value::as_str))
        .filter_map(indicators::by_uuid)
        .collect();
    let profile = best_profile(&matched);
    let standard = standard(epd, profile);

    let mut rows = Vec::new();
    for s in &sources {
        let indicator_uuid = s.reference.get("refObjectId").and_then(Value::as_str).unwrap_or_default();
        let known = indicators::by_uuid(indicator_uuid);
        let unit_ref =
            s.anies.iter().find(|a| a.get("name").and_then(Value::as_str) == Some("referenceToUnitGroupDataSet"));
        let unit = unit_ref
            .and_then(|u| get(u, &["value", "shortDescription"]))
            .and_then(|d| pick_text(d, Some(lang)))
            .or_else(|| known.map(|k| k.unit.to_string()));
        let unit_group_uuid = unit_ref.and_then(|u| str_at(u, &["value", "refObjectId"]));
        let name = s.reference.get("shortDescription").and_then(|d| pick_text(d, Some(lang)));
        for a in s.anies.iter().filter(|a| a.get("module").is_some()) {
            let raw = a.get("value");
            rows.push(json!({
                "process_uuid": uuid,
                "process_version": version,
                "indicator_key": known.map(|k| k.key),
                "indicator_uuid": indicator_uuid,
                "indicator_name": name,
                "indicator_kind": known.map(|k| k.kind).unwrap_or(s.kind).as_str(),
                "indicator_group": known.map(|k| k.group),
                "direction": s.direction,
                "module": a.get("module").and_then(Value::as_str),
                "scenario": a.get("scenario").and_then(Value::as_str).unwrap_or(""),
                "value": raw.and_then(parse_number),
                "value_text": raw.map(|v| match v { Value::String(s) => s.clone(), other => other.to_string() }),
                "unit": unit,
                "unit_group_uuid": unit_group_uuid,
                "standard": standard,
                "indicator_profile": profile,
            }));
        }
    }
    EpdRows { indicators: rows, details: details_record(epd, uuid, version, lang, standard, profile) }
}

/// ILCD's "Mass" flow property.
const MASS_FLOW_PROPERTY: &str = "93a60a56-a3c8-11da-a746-0800200b9a66";

fn details_record(
    epd: &Value,
    uuid: &str,
    version: &str,
    lang: &str,
    standard: Option<&str>,
    profile: Option<&str>,
) -> Value {
    let info = get(epd, &["processInformation"]).unwrap_or(&Value::Null);
    let classification = array(info, &["dataSetInformation", "classificationInformation", "classification"])
        .iter()
        .find(|c| c.get("name").and_then(Value::as_str).is_some_and(|n| n.eq_ignore_ascii_case("OEKOBAU.DAT")))
        .or_else(|| array(info, &["dataSetInformation", "classificationInformation", "classification"]).first());
    let classes: Vec<&Value> = classification.map(|c| array(c, &["class"]).iter().collect()).unwrap_or_default();
    let class_path: Vec<&str> = classes.iter().filter_map(|c| c.get("value").and_then(Value::as_str)).collect();
    let class_id = classes.iter().rev().find_map(|c| c.get("classId").and_then(Value::as_str));
    let sub_type = array(epd, &["modellingAndValidation", "LCIMethodAndAllocation", "other", "anies"])
        .iter()
        .find(|a| a.get("name").and_then(Value::as_str) == Some("subType"))
        .and_then(|a| a.get("value").and_then(Value::as_str));
    let admin = get(epd, &["administrativeInformation"]).unwrap_or(&Value::Null);
    let timestamp = int_at(admin, &["dataEntryBy", "timeStamp"])
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));

    // The reference product: the exchange flagged referenceFlow, else the one the quantitative reference names.
    let ref_ids: Vec<i64> =
        array(info, &["quantitativeReference", "referenceToReferenceFlow"]).iter().filter_map(Value::as_i64).collect();
    let exchanges = array(epd, &["exchanges", "exchange"]);
    let reference =
        exchanges.iter().find(|e| e.get("referenceFlow").and_then(Value::as_bool) == Some(true)).or_else(|| {
            exchanges
                .iter()
                .find(|e| e.get("dataSetInternalID").and_then(Value::as_i64).is_some_and(|id| ref_ids.contains(&id)))
        });
    let empty = Value::Null;
    let reference = reference.unwrap_or(&empty);
    let flow_properties: Vec<Value> = array(reference, &["flowProperties"])
        .iter()
        .map(|p| {
            json!({
                "uuid": p.get("uuid"),
                "name": p.get("name").and_then(|n| pick_text(n, Some(lang))),
                "mean_value": p.get("meanValue").and_then(parse_number),
                "unit": p.get("referenceUnit"),
                "is_reference": p.get("referenceFlowProperty").and_then(Value::as_bool).unwrap_or(false),
            })
        })
        .collect();
    let declared = flow_properties.iter().find(|p| p["is_reference"] == true);
    let mass = array(reference, &["flowProperties"])
        .iter()
        .find(|p| p.get("uuid").and_then(Value::as_str) == Some(MASS_FLOW_PROPERTY))
        .and_then(|p| p.get("meanValue").and_then(parse_number));
    let material: Vec<Value> = array(reference, &["materialProperties"])
        .iter()
        .map(|m| {
            json!({
                "name": m.get("name"),
                "value": m.get("value").and_then(parse_number),
                "unit": m.get("unit"),
                "unit_description": m.get("unitDescription"),
            })
        })
        .collect();
    let material_value = |name: &str| {
        material
            .iter()
            .find(|m| m["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
            .and_then(|m| m["value"].as_f64())
    };
    let mut out = Map::new();
    let mut put = |k: &str, v: Value| {
        out.insert(k.to_string(), v);
    };
    put("process_uuid", json!(uuid));
    put("process_version", json!(version));
    put("name", json!(get(info, &["dataSetInformation", "name", "baseName"]).and_then(|n| pick_text(n, Some(lang)))));
    put("classification", json!((!class_path.is_empty()).then(|| class_path.join(" / "))));
    put("classification_id", json!(class_id));
    put("type_of_dataset", json!(str_at(epd, &["modellingAndValidation", "LCIMethodAndAllocation", "typeOfDataSet"])));
    put("sub_type", json!(sub_type));
    put("reference_year", json!(int_at(info, &["time", "referenceYear"])));
    put("valid_until", json!(int_at(info, &["time", "dataSetValidUntil"])));
    put("location", json!(str_at(info, &["geography", "locationOfOperationSupplyOrProduction", "location"])));
    put("standard", json!(standard));
    put("indicator_profile", json!(profile));
    put("registration_number", json!(str_at(admin, &["publicationAndOwnership", "registrationNumber"])));
    put(
        "owner",
        json!(get(admin, &["publicationAndOwnership", "referenceToOwnershipOfDataSet", "shortDescription"])
            .and_then(|d| pick_text(d, Some(lang)))),
    );
    put("data_entry_time", json!(timestamp));
    put("reference_flow_uuid", json!(str_at(reference, &["referenceToFlowDataSet", "refObjectId"])));
    put(
        "reference_flow_name",
        json!(get(reference, &["referenceToFlowDataSet", "shortDescription"]).and_then(|d| pick_text(d, Some(lang)))),
    );
    put("declared_amount", json!(reference.get("meanAmount").and_then(parse_number)));
    put("declared_unit", declared.map(|p| p["unit"].clone()).unwrap_or(Value::Null));
    put("declared_property", declared.map(|p| p["name"].clone()).unwrap_or(Value::Null));
    put("mass_kg_per_declared_unit", json!(mass));
    put("gross_density_kg_per_m3", json!(material_value("gross density")));
    put("grammage_kg_per_m2", json!(material_value("grammage")));
    put("layer_thickness_m", json!(material_value("layer thickness")));
    put("conversion_factor_to_1_kg", json!(material_value("conversion factor to 1 kg")));
    put("flow_properties", Value::Array(flow_properties.clone()));
    put("material_properties", Value::Array(material));
    Value::Object(out)
}

/// One class of a category system.
#[derive(Debug, Clone, PartialEq)]
pub struct Category {
    pub id: String,
    pub name: String,
    pub parent_id: Option<String>,
    pub level: i64,
    /// Names from the top class down, joined by " / " (the form of the process list's `classific`).
    pub path: String,
}

/// The classes of one `dataType` (e.g. `Process`) from an ILCD `CategorySystem` XML, in document order.
pub fn parse_categories(xml: &str, data_type: &str) -> Result<Vec<Category>, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    let mut in_type = false;
    let mut saw_root = false;
    // (id, name) of the open ancestors.
    let mut stack: Vec<(String, String)> = Vec::new();
    loop {
        let event = reader.read_event().map_err(|e| format!("at byte {}: {e}", reader.buffer_position()))?;
        let (start, empty) = match &event {
            Event::Start(e) => (Some(e.clone()), false),
            Event::Empty(e) => (Some(e.clone()), true),
            _ => (None, false),
        };
        if let Some(e) = start {
            let attr = |name: &[u8]| -> Option<String> {
                e.attributes()
                    .flatten()
                    .find(|a| a.key.local_name().as_ref() == name)
                    .and_then(|a| a.decode_and_unescape_value(reader.decoder()).ok().map(|v| v.into_owned()))
            };
            match e.local_name().as_ref() {
                b"CategorySystem" => saw_root = true,
                b"categories" => in_type = !empty && attr(b"dataType").as_deref() == Some(data_type),
                b"category" if in_type => {
                    let id = attr(b"id").ok_or_else(|| format!("a category without id under {:?}", stack.last()))?;
                    let name = attr(b"name").unwrap_or_default();
                    let mut path: Vec<&str> = stack.iter().map(|(_, n)| n.as_str()).collect();
                    path.push(&name);
                    out.push(Category {
                        id: id.clone(),
                        name: name.clone(),
                        parent_id: stack.last().map(|(i, _)| i.clone()),
                        level: stack.len() as i64,
                        path: path.join(" / "),
                    });
                    if !empty {
                        stack.push((id, name));
                    }
                }
                _ => {}
            }
            continue;
        }
        match event {
            Event::End(e) => match e.local_name().as_ref() {
                b"category" if in_type => {
                    stack.pop();
                }
                b"categories" => in_type = false,
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_root {
        return Err("no CategorySystem element (HTML or another document?)".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_nest() {
        let xml = r#"<?xml version="1.0"?><c:CategorySystem xmlns:c="x" name="T"><c:categories dataType="Flow">
            <c:category id="9" name="F"/></c:categories><c:categories dataType="Process">
            <c:category id="1" name="Mineral &amp; Co"><c:category id="1.1" name="Binder"><c:category id="1.1.01" name="Cement"/>
            </c:category></c:category><c:category id="2" name="Wood"/></c:categories></c:CategorySystem>"#;
        let rows = parse_categories(xml, "Process").unwrap();
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["1", "1.1", "1.1.01", "2"]);
        assert_eq!(rows[2].path, "Mineral & Co / Binder / Cement");
        assert_eq!((rows[2].parent_id.as_deref(), rows[2].level), (Some("1.1"), 2));
        assert_eq!((rows[3].parent_id.as_deref(), rows[3].level), (None, 0));
        assert!(parse_categories("<html><body>x</body></html>", "Process").is_err());
    }

    #[test]
    fn numbers_from_strings() {
        assert_eq!(parse_number(&json!("7.95E-6")), Some(7.95e-6));
        assert_eq!(parse_number(&json!("-764.0695889049085")), Some(-764.0695889049085));
        assert_eq!(parse_number(&json!("0,696")), Some(0.696));
        assert_eq!(parse_number(&json!("1,000.5")), None);
        assert_eq!(parse_number(&json!(" ")), None);
        assert_eq!(parse_number(&json!("NaN")), None);
        assert_eq!(parse_number(&json!(2.5)), Some(2.5));
    }

    #[test]
    fn language_preference() {
        let v = json!([{"value":"Beton","lang":"de"},{"value":"concrete","lang":"en"},{"value":"béton","lang":"fr"}]);
        assert_eq!(pick_text(&v, Some("fr")).as_deref(), Some("béton"));
        assert_eq!(pick_text(&v, Some("it")).as_deref(), Some("concrete"));
        assert_eq!(
            pick_text(&json!([{"value":"nur deutsch","lang":"de"}]), Some("en")).as_deref(),
            Some("nur deutsch")
        );
        assert_eq!(pick_text(&json!([{"lang":"de"}]), None), None);
    }

    #[test]
    fn modules_scenarios_and_units() {
        let epd = json!({
            "LCIAResults": {"LCIAResult": [{
                "referenceToLCIAMethodDataSet": {"refObjectId": "6a37f984-a4b3-458a-a20a-64418c145fa2",
                    "shortDescription": [{"value": "Global Warming Potential - total (GWP-total)", "lang": "en"}]},
                "other": {"anies": [
                    {"value": "7.95E-6", "module": "A1-A3"}, {"module": "B1"},
                    {"value": "-1", "module": "D", "scenario": "a"}, {"value": "-2", "module": "D", "scenario": "b"},
                    {"name": "referenceToUnitGroupDataSet", "value": {"shortDescription": [{"value": "kg CO2-Äqv."}], "refObjectId": "ug"}}
                ]}}]},
            "exchanges": {"exchange": [{"referenceToFlowDataSet": {"refObjectId": "06159210-646b-4c8d-8583-da9b3b95a6c1"},
                "exchange direction": "INPUT", "other": {"anies": [{"value": "3", "module": "A1"}]}}]}
        });
        let rows = epd_rows(&epd, "u", "01.00.000", "en").indicators;
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[0]["indicator_key"], "GWP-total");
        assert_eq!(rows[0]["value"], json!(7.95e-6));
        assert_eq!(rows[0]["unit"], "kg CO2-Äqv.");
        assert_eq!((rows[1]["module"].as_str(), rows[1]["value"].is_null()), (Some("B1"), true));
        assert_eq!((rows[3]["scenario"].as_str(), rows[3]["value"].as_f64()), (Some("b"), Some(-2.0)));
        assert_eq!((rows[4]["indicator_key"].as_str(), rows[4]["direction"].as_str()), (Some("PENRT"), Some("INPUT")));
        assert_eq!(rows[4]["unit"], "MJ", "falls back to the profile's unit");
        assert_eq!(rows[0]["indicator_profile"], "EN_15804_A2_EF30");
        assert_eq!(rows[0]["standard"], "EN 15804+A2");
    }
}
