Feature: Requirements written wrong
  @requirement:BAD-1 @regulation:GDPR-Art.5 @severity:urgent
  Scenario: A step nobody defined
    Given the browser is in incognito mode
    When I teleport to a page that exists only for this test

  @requirement:BAD-1 @regulation:GDPR-Art.5 @colour:blue
  Scenario: Same requirement id twice
    Given the browser is in incognito mode

  @severity:critical
  Scenario: No requirement id and no regulation
    Given the browser is in normal mode
