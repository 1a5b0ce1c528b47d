@browser @epic:data-transfers
Feature: Browsing data goes to no tracker, to no forbidden jurisdiction, and never in clear text
  In the reported case the browser's analytics went to the maker's hosts in
  Singapore and Russia while the maker called the data anonymous. Where a server
  stands is judged from the address the device reached, by two offline IP databases;
  a server that either places in a forbidden country fails, and one whose place is
  unknown is no pass. Which countries are forbidden, which hosts are allowed and
  which tracker lists apply is set in policy.yaml.

  Rule: Personal data leaves only for the places policy.yaml allows

    @requirement:BR-GEO-001 @severity:critical @regulation:GDPR-Art.44 @regulation:DPDP-Sec.16
    Scenario: Nothing goes to analytics hosts in forbidden countries
      Given the browser is in normal mode
      When I visit a page that exists only for this test
      Then no data is sent to servers in the countries policy.yaml forbids

    @requirement:BR-TRK-001 @severity:critical @regulation:GDPR-Art.6 @regulation:ePrivacy-Art.5(3)
    Scenario: No request reaches a known tracker while browsing
      Given the browser is in normal mode
      When I visit a page that exists only for this test
      Then no request reaches a known tracker

  Rule: What leaves the device is protected in transit, and open to inspection

    @requirement:BR-TLS-001 @severity:critical @regulation:GDPR-Art.32
    Scenario: Browsing sends nothing in clear text and nothing escapes inspection
      Given the browser is in normal mode
      When I visit a page that exists only for this test
      Then no traffic was left unexamined
      And all traffic is encrypted
