-- Each customer's consent in force per purpose and channel: the latest record of the
-- ledger, kept by a trigger so that every way a record is written keeps it. Segment
-- filters read these columns instead of looking the ledger up customer by customer.
-- NULL: no record, so the purpose's default applies.
CREATE TABLE consent_state (
    customer_id BIGINT PRIMARY KEY REFERENCES customers (id),
    transactional_rcs BOOLEAN,
    transactional_sms BOOLEAN,
    transactional_email BOOLEAN,
    promotional_rcs BOOLEAN,
    promotional_sms BOOLEAN,
    promotional_email BOOLEAN
);

INSERT INTO consent_state (customer_id, transactional_rcs, transactional_sms,
    transactional_email, promotional_rcs, promotional_sms, promotional_email)
SELECT c.id,
    (SELECT k.granted FROM consents k WHERE k.customer_id = c.id AND k.purpose = 'transactional'
        AND k.channel = 'rcs' ORDER BY k.id DESC LIMIT 1),
    (SELECT k.granted FROM consents k WHERE k.customer_id = c.id AND k.purpose = 'transactional'
        AND k.channel = 'sms' ORDER BY k.id DESC LIMIT 1),
    (SELECT k.granted FROM consents k WHERE k.customer_id = c.id AND k.purpose = 'transactional'
        AND k.channel = 'email' ORDER BY k.id DESC LIMIT 1),
    (SELECT k.granted FROM consents k WHERE k.customer_id = c.id AND k.purpose = 'promotional'
        AND k.channel = 'rcs' ORDER BY k.id DESC LIMIT 1),
    (SELECT k.granted FROM consents k WHERE k.customer_id = c.id AND k.purpose = 'promotional'
        AND k.channel = 'sms' ORDER BY k.id DESC LIMIT 1),
    (SELECT k.granted FROM consents k WHERE k.customer_id = c.id AND k.purpose = 'promotional'
        AND k.channel = 'email' ORDER BY k.id DESC LIMIT 1)
FROM customers c WHERE EXISTS (SELECT 1 FROM consents k WHERE k.customer_id = c.id);

CREATE FUNCTION consents_keep_state() RETURNS trigger AS $$
BEGIN
    INSERT INTO consent_state (customer_id) VALUES (NEW.customer_id)
        ON CONFLICT (customer_id) DO NOTHING;
    UPDATE consent_state SET
        transactional_rcs = CASE WHEN NEW.purpose = 'transactional' AND NEW.channel = 'rcs'
            THEN NEW.granted ELSE transactional_rcs END,
        transactional_sms = CASE WHEN NEW.purpose = 'transactional' AND NEW.channel = 'sms'
            THEN NEW.granted ELSE transactional_sms END,
        transactional_email = CASE WHEN NEW.purpose = 'transactional' AND NEW.channel = 'email'
            THEN NEW.granted ELSE transactional_email END,
        promotional_rcs = CASE WHEN NEW.purpose = 'promotional' AND NEW.channel = 'rcs'
            THEN NEW.granted ELSE promotional_rcs END,
        promotional_sms = CASE WHEN NEW.purpose = 'promotional' AND NEW.channel = 'sms'
            THEN NEW.granted ELSE promotional_sms END,
        promotional_email = CASE WHEN NEW.purpose = 'promotional' AND NEW.channel = 'email'
            THEN NEW.granted ELSE promotional_email END
    WHERE customer_id = NEW.customer_id;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER consents_keep_state AFTER INSERT ON consents
    FOR EACH ROW EXECUTE FUNCTION consents_keep_state();
