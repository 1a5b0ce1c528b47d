Feature: Credentials stay out of the evidence
  @requirement:RED-1 @regulation:GDPR-Art.32
  Scenario: A page sends credentials together with the visited URL
    Given the browser is in normal mode
    When I visit a page that exists only for this test
    And the page posts credentials and the visited URL to a collector
    Then no other host received the visited URL
