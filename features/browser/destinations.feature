@browser @epic:data-transfers
Feature: Browsing data goes to no tracker, to no forbidden jurisdiction, and never in clear text
  In the reported case the browser's analytics went to the maker's hosts in
  Singapore and Russia while the maker called the data anonymous. Where the
  servers stand is judged from the address the device reached, by an offline
  IP database of server locations; a server whose place is unknown is no pass.
  Destinations and lists are set in policy.yaml.

  @requirement:BR-GEO-001 @severity:critical @regulation:GDPR-Art.44 @regulation:DPDP-Sec.16 @selftest:must-fail
  Scenario: Nothing goes to analytics hosts in forbidden countries
    Given the browser is in normal mode
    When I visit a fresh canary page
    Then the capture saw the device's own requests
    And no data is sent to servers in Singapore, Russia

  @requirement:BR-TRK-001 @severity:critical @regulation:GDPR-Art.6 @regulation:ePrivacy-Art.5(3) @selftest:must-fail
  Scenario: No request reaches a known tracker while browsing
    Given the browser is in normal mode
    When I visit a fresh canary page
    Then the capture saw the device's own requests
    And no request reaches a known tracker

  @requirement:BR-TLS-001 @severity:critical @regulation:GDPR-Art.32 @selftest:must-fail-udp
  Scenario: Browsing sends nothing in clear text and nothing escapes inspection
    Given the browser is in normal mode
    When I visit a fresh canary page
    Then the capture saw the device's own requests
    And no traffic was left unexamined
    And all traffic is encrypted
