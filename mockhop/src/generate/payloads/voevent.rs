//! VOEvent 2.0 packets as GCN distributes them: original XML (hop-client
//! 0.12+ sends it as is) or the JSON rendering older hop-clients sent.

use serde_json::{Value, json};

use crate::generate::dice::Dice;
use crate::generate::timestamps::Civil;

const ROLES: &[&str] = &["observation", "observation", "observation", "test", "utility"];

/// The random parts of a packet, drawn once so it can be rendered with any
/// amount of filler in its description.
pub(crate) struct VoEvent {
    role: &'static str,
    trigger: u64,
    packet_type: u64,
    counts: u64,
    time: String,
    ra: String,
    dec: String,
    error: String,
}

impl VoEvent {
    pub(crate) fn draw(dice: &mut Dice, now: i64) -> VoEvent {
        VoEvent {
            role: dice.pick(ROLES),
            trigger: 1_000_000 + dice.below(9_000_000),
            packet_type: dice.pick(&[61, 111, 112, 115, 164]),
            counts: 100 + dice.below(100_000),
            time: Civil::from_ms(now).iso8601(),
            ra: format!("{:.4}", dice.below(3_600_000) as f64 / 10_000.0),
            dec: format!("{:.4}", dice.below(1_800_000) as f64 / 10_000.0 - 90.0),
            error: format!("{:.4}", (1 + dice.below(100_000)) as f64 / 10_000.0),
        }
    }

    fn ivorn(&self) -> String {
        format!("ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_{}-{}", self.trigger, self.packet_type)
    }

    /// The XML packet with `description` in its `<Description>`.
    pub(crate) fn xml(&self, description: &str) -> Vec<u8> {
        let (role, ivorn, time) = (self.role, self.ivorn(), &self.time);
        let (trigger, packet_type, counts) = (self.trigger, self.packet_type, self.counts);
        let (ra, dec, error) = (&self.ra, &self.dec, &self.error);
        format!(
            r#"<?xml version='1.0' encoding='UTF-8'?>
<voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://www.ivoa.net/xml/VOEvent/v2.0 http://www.ivoa.net/xml/VOEvent/VOEvent-v2.0.xsd" version="2.0" role="{role}" ivorn="{ivorn}">
  <Who>
    <AuthorIVORN>ivo://nasa.gsfc.tan/gcn</AuthorIVORN>
    <Author>
      <shortName>VO-GCN</shortName>
      <contactName>Scott Barthelmy</contactName>
    </Author>
    <Date>{time}</Date>
  </Who>
  <What>
    <Param name="Packet_Type" value="{packet_type}"/>
    <Param name="TrigID" value="{trigger}" ucd="meta.id"/>
    <Param name="Burst_Inten" value="{counts}" unit="cts" ucd="phot.count"/>
  </What>
  <WhereWhen>
    <ObsDataLocation>
      <ObservatoryLocation id="GEOLUN"/>
      <ObservationLocation>
        <AstroCoordSystem id="UTC-FK5-GEO"/>
        <AstroCoords coord_system_id="UTC-FK5-GEO">
          <Time unit="s"><TimeInstant><ISOTime>{time}</ISOTime></TimeInstant></Time>
          <Position2D unit="deg">
            <Name1>RA</Name1><Name2>Dec</Name2>
            <Value2><C1>{ra}</C1><C2>{dec}</C2></Value2>
            <Error2Radius>{error}</Error2Radius>
          </Position2D>
        </AstroCoords>
      </ObservationLocation>
    </ObsDataLocation>
  </WhereWhen>
  <Description>{description}</Description>
</voe:VOEvent>
"#
        )
        .into_bytes()
    }

    /// hop-client's JSON rendering of the packet (before 0.12).
    pub(crate) fn value(&self, description: &str) -> Value {
        let param = |name: &str, value: String| json!({"name": name, "value": value});
        json!({
            "ivorn": self.ivorn(),
            "role": self.role,
            "version": "2.0",
            "Who": {"AuthorIVORN": "ivo://nasa.gsfc.tan/gcn", "Date": self.time},
            "What": {"Param": [
                param("Packet_Type", self.packet_type.to_string()),
                param("TrigID", self.trigger.to_string()),
                param("Burst_Inten", self.counts.to_string()),
            ]},
            "WhereWhen": {"ObsDataLocation": {"ObservationLocation": {"AstroCoords": {
                "Time": {"TimeInstant": {"ISOTime": self.time}},
                "Position2D": {"Value2": {"C1": self.ra, "C2": self.dec}, "Error2Radius": self.error},
            }}}},
            "Description": description,
        })
    }
}
