//! Integration tests: real HTTP over loopback against in-process instances, the embedded dev
//! identity provider and a programmable identity provider; the browser and Azure-layout tests
//! run the real binary.

mod azure_layout;
mod bearer;
mod browser;
mod consumers;
mod containment;
mod credentials;
mod dev_idp;
mod doctor;
mod entra;
mod events;
mod faults;
mod federated;
mod flow;
mod groups;
mod hardening;
mod helpers;
mod hostile;
mod id_token;
mod interop;
mod lambda;
mod layout;
mod logs;
mod packages;
mod properties;
mod proxy;
mod renewal;
mod return_to;
mod review2;
mod server_limits;
mod session_groups;
mod startup;
mod state;
mod support;
mod trust;
