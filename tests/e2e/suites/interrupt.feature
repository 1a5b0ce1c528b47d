Feature: A run cut short loses nothing and leaks nothing
  @requirement:INT-1
  Scenario: A page sends credentials, then the run is interrupted
    Given the browser is in normal mode
    When I visit a page that exists only for this test
    And the page posts credentials and the visited URL to a collector
    And the scenario is held open until the run is stopped
    Then no other host received the visited URL
