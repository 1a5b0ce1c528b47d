@browser @incognito @epic:browser-privacy
Feature: Incognito browsing stays private
  In incognito mode the browser must not tell anyone but the site a user visits
  which pages were visited or what was searched: not the phone maker, not an
  analytics service, not any other third party. Every URL and search term used
  here is a fresh canary, so seeing it anywhere else proves a leak.

  @requirement:BR-INC-001 @severity:critical @regulation:GDPR-Art.5(1)(c) @regulation:ePrivacy-Art.5(3) @selftest:must-fail
  Scenario: Incognito browsing sends no URLs
    Given the browser is in incognito mode
    When I visit a fresh canary page
    Then the capture saw the device's own requests
    And no other host received the visited URL

  @requirement:BR-INC-002 @severity:critical @search @regulation:GDPR-Art.5(1)(c) @regulation:DPDP-Sec.6 @selftest:must-fail
  Scenario: Incognito search sends no search terms to third parties
    Given the browser is in incognito mode
    When I search for a fresh canary term on "https://search.example.com/"
    Then the capture saw the device's own requests
    And no third party received the search term
