//! The problem the controller's and the state machine's tests share.

use tiersplit_cost::Problem;

/// Device, edge0 and cloud; a chain whose first layers are heavy and shrink the data: on a
/// fast uplink the edge and cloud take everything, on a slow one the device keeps more.
pub(crate) fn three_tier_chain() -> Problem {
    let text = r#"{"model":"m","scenario":"s","nodes":[{"name":"device","tier":"device"},{"name":"edge0","tier":"edge"},{"name":"cloud","tier":"cloud"}],"device":0,
    "layers":[{"name":"a","op":"Conv","time":[400000000,10000000,2000000]},{"name":"b","op":"Conv","time":[400000000,10000000,2000000]},{"name":"c","op":"Gemm","time":[40000000,1000000,200000]}],
    "tensors":[{"name":"x","bytes":600000,"producer":null,"consumers":[0],"graph_output":false},{"name":"ya","bytes":300000,"producer":0,"consumers":[1],"graph_output":false},{"name":"yb","bytes":4000,"producer":1,"consumers":[2],"graph_output":false},{"name":"yc","bytes":4000,"producer":2,"consumers":[],"graph_output":true}],
    "links":[{"from":0,"to":1,"bandwidth":6250000.0,"latency":2000000},{"from":1,"to":0,"bandwidth":6250000.0,"latency":2000000},{"from":1,"to":2,"bandwidth":3125000.0,"latency":15000000},{"from":2,"to":1,"bandwidth":3125000.0,"latency":15000000}],
    "frame_rate":5.0}"#;
    serde_json::from_str(text).unwrap()
}
