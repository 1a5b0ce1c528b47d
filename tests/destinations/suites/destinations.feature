Feature: Destination and transport checks
  @requirement:DST-1
  Scenario: A pinning client leaves traffic unexamined
    When a client that pins its certificates connects to "pinned.example.org"
    Then no traffic was left unexamined

  @requirement:DST-2
  Scenario: A pinning client the policy accepts by name
    When a client that pins its certificates connects to "accepted-pin.example.org"
    Then no traffic was left unexamined

  @requirement:DST-3
  Scenario: Telemetry to a known tracker
    When the device posts to "https://tracking.intl.miui.com/track"
    Then no request reaches a known tracker

  @requirement:DST-4
  Scenario: Telemetry to a server in Singapore
    When the device posts to "https://tracking.intl.miui.com/track"
    Then no data is sent to servers in "Singapore, Russia", whatever policy.yaml forbids

  @requirement:DST-5
  Scenario: A server whose country cannot be known
    When the device posts to "https://cdn.unmapped-vendor.com/x"
    Then no data is sent to servers in Singapore, Russia, whatever policy.yaml forbids

  @requirement:DST-6
  Scenario: Clear text
    When the device posts to "http://www.example.net/form"
    Then all traffic is encrypted

  @requirement:DST-7
  Scenario: A clean window
    When the device posts to "https://www.example.net/ok"
    Then no request reaches a known tracker
    And all traffic is encrypted
    And no traffic goes to hosts outside the allowlist
    And no data is sent to servers in Singapore, Russia, whatever policy.yaml forbids
    And no traffic was left unexamined

  @requirement:DST-8
  Scenario: A host outside the allowlist
    When the device posts to "https://collector.elsewhere.example.com/c"
    Then no traffic goes to hosts outside the allowlist
