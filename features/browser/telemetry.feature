@browser @epic:browser-privacy
Feature: Browser telemetry carries no user content
  Telemetry the browser or the firmware sends about its use (which pages, which
  tabs) must not carry what the user read or wrote. The maker in the reported
  case called such data anonymous while it held every visited URL.

  Rule: Usage telemetry may count what a user does, never say what the user read

    @requirement:BR-TEL-001 @differential @severity:critical @regulation:GDPR-Art.5(1)(c) @regulation:ePrivacy-Art.5(3)
    Scenario: Browsing telemetry carries no visited URL
      Given the browser is in normal mode
      When I visit a page that exists only for this test
      Then no other host received the visited URL

    @requirement:BR-TEL-002 @differential @severity:critical @regulation:GDPR-Art.5(1)(c) @regulation:CCPA-1798.100
    Scenario: Tab-switch events carry no visited URL
      Given the browser is in normal mode
      When I open a page that exists only for this test in a new tab
      And I switch back to the first tab
      Then no other host received the visited URL
